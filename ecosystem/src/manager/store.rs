//! The metadata store: one JSON file per imported repository under `<state_dir>/ecosystem/meta/`, written
//! atomically (temporary file, fsync, rename, fsync of the directory), and read strictly: a file that does not
//! parse is an error naming it, never a silent reset.

use std::{
    fs, io,
    path::{Path, PathBuf},
};

use super::{EcosystemError, ImportId, RepoMeta};
use crate::atomic::write_atomic;
pub(crate) use hive_support::rfc3339;

/// Saves one repository's metadata.
pub(crate) fn save(meta_dir: &Path, meta: &RepoMeta) -> Result<(), EcosystemError> {
    let path = meta_path(meta_dir, &meta.id);
    let mut bytes = serde_json::to_vec_pretty(meta).map_err(|e| EcosystemError::Io {
        action: "encode",
        path: path.clone(),
        source: e.into(),
    })?;
    bytes.push(b'\n');
    write_atomic(&path, &bytes).map_err(EcosystemError::io("write", path))
}

/// Loads one repository's metadata; `Ok(None)` when the file does not exist.
pub(crate) fn load(meta_dir: &Path, id: &ImportId) -> Result<Option<RepoMeta>, EcosystemError> {
    let path = meta_path(meta_dir, id);
    // Metadata files are a few hundred bytes; a larger one, or one that is not a regular file, is not ours.
    let bytes = match hive_support::read_bounded(&path, 1 << 20) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(EcosystemError::io("read", path)(e)),
    };
    let meta: RepoMeta = serde_json::from_slice(&bytes)
        .map_err(|e| EcosystemError::CorruptMetadata { path: path.clone(), message: e.to_string() })?;
    if &meta.id != id {
        return Err(EcosystemError::CorruptMetadata {
            path,
            message: format!("it holds id '{}', not the '{id}' its name says", meta.id),
        });
    }
    Ok(Some(meta))
}

/// Loads every metadata file, sorted by name then id. Temporary files of interrupted writes are skipped; any other
/// file that is not valid metadata is an error naming it.
pub(crate) fn load_all(meta_dir: &Path) -> Result<Vec<RepoMeta>, EcosystemError> {
    let entries = match fs::read_dir(meta_dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(EcosystemError::io("list", meta_dir)(e)),
    };
    let mut metas = Vec::new();
    for entry in entries {
        let path = entry.map_err(EcosystemError::io("list", meta_dir))?.path();
        let file_name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        if file_name.starts_with('.') {
            continue;
        }
        let id = file_name.strip_suffix(".json").and_then(|stem| ImportId::parse(stem).ok()).ok_or_else(|| {
            EcosystemError::CorruptMetadata {
                path: path.clone(),
                message: "not a metadata file name ('<12 hex digits>.json')".to_owned(),
            }
        })?;
        if let Some(meta) = load(meta_dir, &id)? {
            metas.push(meta);
        }
    }
    metas.sort_by(|a, b| a.name.cmp(&b.name).then_with(|| a.id.cmp(&b.id)));
    Ok(metas)
}

/// Deletes one metadata file and makes the deletion durable.
pub(crate) fn delete(meta_dir: &Path, id: &ImportId) -> Result<(), EcosystemError> {
    let path = meta_path(meta_dir, id);
    match fs::remove_file(&path) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(EcosystemError::io("remove", path)(e)),
    }
    fs::File::open(meta_dir).and_then(|d| d.sync_all()).map_err(EcosystemError::io("sync", meta_dir))
}

/// `<meta_dir>/<id>.json`.
pub(crate) fn meta_path(meta_dir: &Path, id: &ImportId) -> PathBuf {
    meta_dir.join(format!("{id}.json"))
}
