//! The transparency log's formats, shared by the registry (which appends and signs)
//! and every client (which verifies): the canonical bytes of an entry, the RFC 9162
//! leaf and node hashes, C2SP checkpoints in signed notes, and the checks of inclusion
//! and consistency proofs. See `docs/trust.md`.
//!
//! The hashing, proofs and checkpoint text are `tlog_tiles` (a port of Go's
//! `golang.org/x/mod/sumdb/tlog`); the notes and Ed25519 keys are `signed_note`.
//!
//! ```
//! use wharf_types::log::{Action, Entry, Tree};
//! let entry = Entry::version(Action::Publish, "wharf:flate@1.0.0",
//!     "sha256:0000000000000000000000000000000000000000000000000000000000000000", "alice", 1);
//! let bytes = entry.to_bytes();
//! assert_eq!(Entry::parse(&bytes).unwrap(), entry);
//! let mut tree = Tree::default();
//! tree.push(wharf_types::log::leaf_hash(&bytes));
//! assert_eq!(tree.size(), 1);
//! ```

use std::collections::HashMap;
use std::fmt;

use signed_note::{Note, StandardVerifier, Verifier as _, VerifierList};
pub use tlog_tiles::{Checkpoint, HASH_SIZE, Hash, HashReader};

/// The first line of every entry: the format and its version.
pub const ENTRY_HEADER: &str = "wharf-log-entry v1";

/// The longest entry accepted (names and versions are bounded far below this).
pub const MAX_ENTRY_BYTES: usize = 1024;

/// What an entry records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// A version was published: its digest is bound to `namespace:name@version` forever.
    Publish,
    /// A version was yanked (hidden from resolution; still served by digest).
    Yank,
    /// A yanked version was restored.
    Unyank,
    /// A namespace got its first owner.
    Claim,
    /// An owner was added to a namespace.
    OwnerAdd,
    /// An owner was removed from a namespace.
    OwnerRemove,
}

impl Action {
    /// The word an entry spells it with.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Publish => "publish",
            Action::Yank => "yank",
            Action::Unyank => "unyank",
            Action::Claim => "claim",
            Action::OwnerAdd => "owner-add",
            Action::OwnerRemove => "owner-remove",
        }
    }

    /// Whether the action is about a version (the entry has a digest) rather than a
    /// namespace (the entry has an owner).
    pub fn is_version(self) -> bool {
        matches!(self, Action::Publish | Action::Yank | Action::Unyank)
    }

    fn parse(word: &str) -> Option<Self> {
        [
            Action::Publish,
            Action::Yank,
            Action::Unyank,
            Action::Claim,
            Action::OwnerAdd,
            Action::OwnerRemove,
        ]
        .into_iter()
        .find(|a| a.as_str() == word)
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One entry of the log. Its canonical bytes ([`Entry::to_bytes`]) are six lines, each
/// `key value` and a newline:
///
/// ```text
/// wharf-log-entry v1
/// action publish
/// subject wharf:flate@1.0.0
/// digest sha256:<64 hex>          (version actions; namespace actions: `owner <user>`)
/// actor alice
/// time 1764536400000
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// What happened.
    pub action: Action,
    /// `namespace:name@version` for version actions, `namespace` for namespace actions.
    pub subject: String,
    /// The component's (or WIT package's) digest, for version actions; the owner added
    /// or removed (the claimer for a claim), for namespace actions.
    pub object: String,
    /// Who did it: the user behind the token (`admin` for the admin token).
    pub actor: String,
    /// When, in milliseconds since the Unix epoch (as the registry's clock said).
    pub time: i64,
}

/// Why bytes are not an entry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a Wharf log entry: {0}")]
pub struct EntryError(String);

impl Entry {
    /// An entry about a version: `subject` is `namespace:name@version`.
    pub fn version(action: Action, subject: &str, digest: &str, actor: &str, time: i64) -> Self {
        Self {
            action,
            subject: subject.to_owned(),
            object: digest.to_owned(),
            actor: actor.to_owned(),
            time,
        }
    }

    /// An entry about a namespace's owners.
    pub fn namespace(action: Action, namespace: &str, owner: &str, actor: &str, time: i64) -> Self {
        Self {
            action,
            subject: namespace.to_owned(),
            object: owner.to_owned(),
            actor: actor.to_owned(),
            time,
        }
    }

    /// The digest, for a version action.
    pub fn digest(&self) -> Option<&str> {
        self.action.is_version().then_some(self.object.as_str())
    }

    /// The canonical bytes (what the leaf hash is of).
    pub fn to_bytes(&self) -> Vec<u8> {
        let object_key = if self.action.is_version() {
            "digest"
        } else {
            "owner"
        };
        format!(
            "{ENTRY_HEADER}\naction {}\nsubject {}\n{object_key} {}\nactor {}\ntime {}\n",
            self.action, self.subject, self.object, self.actor, self.time
        )
        .into_bytes()
    }

    /// Parses canonical bytes: anything that does not write back byte for byte (another
    /// order, extra spaces, a missing newline) is refused.
    pub fn parse(bytes: &[u8]) -> Result<Self, EntryError> {
        if bytes.len() > MAX_ENTRY_BYTES {
            return Err(EntryError(format!(
                "{} bytes; at most {MAX_ENTRY_BYTES}",
                bytes.len()
            )));
        }
        let text = std::str::from_utf8(bytes).map_err(|_| EntryError("not UTF-8".into()))?;
        let lines: Vec<&str> = text.split_terminator('\n').collect();
        let [header, action, subject, object, actor, time] = lines[..] else {
            return Err(EntryError(format!("{} lines; an entry has 6", lines.len())));
        };
        if header != ENTRY_HEADER {
            return Err(EntryError(format!(
                "first line `{header}`, expected `{ENTRY_HEADER}`"
            )));
        }
        let value = |line: &str, key: &str| -> Result<String, EntryError> {
            line.strip_prefix(key)
                .and_then(|rest| rest.strip_prefix(' '))
                .filter(|v| !v.is_empty() && !v.contains(char::is_whitespace))
                .map(str::to_owned)
                .ok_or_else(|| {
                    EntryError(format!(
                        "expected `{key} <value without spaces>`, found `{line}`"
                    ))
                })
        };
        let action_word = value(action, "action")?;
        let action = Action::parse(&action_word)
            .ok_or_else(|| EntryError(format!("unknown action `{action_word}`")))?;
        let object_key = if action.is_version() {
            "digest"
        } else {
            "owner"
        };
        let time_text = value(time, "time")?;
        let entry = Entry {
            action,
            subject: value(subject, "subject")?,
            object: value(object, object_key)?,
            actor: value(actor, "actor")?,
            time: time_text
                .parse()
                .map_err(|_| EntryError(format!("time `{time_text}` is not a number")))?,
        };
        if entry.to_bytes() != bytes {
            return Err(EntryError("not in canonical form".into()));
        }
        Ok(entry)
    }
}

impl fmt::Display for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let object = if self.action.is_version() {
            "digest"
        } else {
            "owner"
        };
        write!(
            f,
            "{} {} ({object} {}) by {}",
            self.action, self.subject, self.object, self.actor
        )
    }
}

/// The leaf hash of an entry's bytes: `SHA-256(0x00 || bytes)` (RFC 9162 §2.1.1).
pub fn leaf_hash(bytes: &[u8]) -> Hash {
    tlog_tiles::record_hash(bytes)
}

/// A hash as the API and checkpoints write it: standard base64.
pub fn hash_text(hash: &Hash) -> String {
    hash.to_string()
}

/// Parses a base64 hash, naming `what` when it is not one.
pub fn parse_hash(text: &str, what: &str) -> Result<Hash, LogError> {
    Hash::parse_hash(text)
        .map_err(|_| LogError::Malformed(format!("{what} `{text}` is not a base64 SHA-256 hash")))
}

/// Why a log check failed. Messages name the proof, the sizes and the key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LogError {
    /// A key string is not a signed-note verifier key.
    #[error("`{0}` is not a log key (a signed-note verifier key: `name+hex id+base64`)")]
    KeyInvalid(String),
    /// The checkpoint is not a signed note, or its text not a C2SP checkpoint.
    #[error("malformed checkpoint: {0}")]
    CheckpointMalformed(String),
    /// The checkpoint carries no signature by the expected key.
    #[error("the checkpoint is not signed by the log key {expected}; it is signed by {found}")]
    WrongKey {
        /// The pinned or configured key: `name+id`.
        expected: String,
        /// The keys that did sign: `name+id`, comma-separated.
        found: String,
    },
    /// A signature by the expected key does not verify.
    #[error("the checkpoint's signature by {key} does not verify")]
    BadSignature {
        /// `name+id`.
        key: String,
    },
    /// The checkpoint's origin is not the key's name.
    #[error("the checkpoint's origin `{origin}` is not the log key's name `{key_name}`")]
    OriginMismatch {
        /// The first line of the checkpoint.
        origin: String,
        /// The key's name.
        key_name: String,
    },
    /// An inclusion proof does not prove the leaf is in the tree.
    #[error(
        "the inclusion proof of entry {index} in the tree of size {size} (root {root}) does not verify"
    )]
    Inclusion {
        /// The entry.
        index: u64,
        /// The tree's size.
        size: u64,
        /// The tree's root hash.
        root: String,
    },
    /// A consistency proof does not prove the old tree is a prefix of the new one.
    #[error(
        "the tree of size {to} (root {to_root}) is not an extension of the tree of size {from} (root {from_root}): the consistency proof does not verify"
    )]
    Consistency {
        /// The older size.
        from: u64,
        /// The older root.
        from_root: String,
        /// The newer size.
        to: u64,
        /// The newer root.
        to_root: String,
    },
    /// A hash, proof or entry is not well-formed.
    #[error("{0}")]
    Malformed(String),
}

/// A log key (the verifier key string, `name+id+base64`) ready to check checkpoints.
#[derive(Clone)]
pub struct LogKey {
    text: String,
    verifier: StandardVerifier,
}

impl fmt::Debug for LogKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl LogKey {
    /// Parses a verifier key string.
    pub fn parse(text: &str) -> Result<Self, LogError> {
        let text = text.trim();
        let verifier =
            StandardVerifier::new(text).map_err(|_| LogError::KeyInvalid(text.to_owned()))?;
        Ok(Self {
            text: text.to_owned(),
            verifier,
        })
    }

    /// The key string as given.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The key's name: the log's origin.
    pub fn name(&self) -> &str {
        self.verifier.name()
    }

    /// `name+id`, how errors name the key.
    pub fn id(&self) -> String {
        format!("{}+{:08x}", self.verifier.name(), self.verifier.key_id())
    }

    /// Checks a signed checkpoint note: signed by this key, a C2SP checkpoint whose
    /// origin is the key's name. Answers the checkpoint.
    pub fn open(&self, note: &[u8]) -> Result<Checkpoint, LogError> {
        let parsed =
            Note::from_bytes(note).map_err(|e| LogError::CheckpointMalformed(e.to_string()))?;
        let known = VerifierList::new(vec![Box::new(self.verifier.clone())]);
        match parsed.verify(&known) {
            Ok(_) => {}
            Err(signed_note::NoteError::UnverifiedNote) => {
                return Err(LogError::WrongKey {
                    expected: self.id(),
                    found: signers(note).join(", "),
                });
            }
            Err(signed_note::NoteError::InvalidSignature { .. }) => {
                return Err(LogError::BadSignature { key: self.id() });
            }
            Err(e) => return Err(LogError::CheckpointMalformed(e.to_string())),
        }
        let checkpoint = Checkpoint::from_bytes(parsed.text())
            .map_err(|e| LogError::CheckpointMalformed(e.to_string()))?;
        if checkpoint.origin() != self.name() {
            return Err(LogError::OriginMismatch {
                origin: checkpoint.origin().to_owned(),
                key_name: self.name().to_owned(),
            });
        }
        Ok(checkpoint)
    }
}

/// The keys (`name+id`) that signed a note, whether or not anyone knows them.
pub fn signers(note: &[u8]) -> Vec<String> {
    match Note::from_bytes(note) {
        Ok(_) => {
            let text = String::from_utf8_lossy(note);
            let sigs = text.rsplit_once("\n\n").map_or("", |(_, s)| s);
            sigs.lines()
                .filter_map(|line| signed_note::Signature::from_bytes(line.as_bytes()).ok())
                .map(|s| format!("{}+{:08x}", s.name(), s.id()))
                .collect()
        }
        Err(_) => Vec::new(),
    }
}

/// Checks that `leaf` is entry `index` of the tree of `size` entries whose root is `root`.
pub fn check_inclusion(
    proof: &[Hash],
    size: u64,
    root: Hash,
    index: u64,
    leaf: Hash,
) -> Result<(), LogError> {
    tlog_tiles::check_record(&proof.to_vec(), size, root, index, leaf).map_err(|_| {
        LogError::Inclusion {
            index,
            size,
            root: root.to_string(),
        }
    })
}

/// Checks that the tree of `from` entries (root `from_root`) is a prefix of the tree of
/// `to` entries (root `to_root`).
pub fn check_consistency(
    proof: &[Hash],
    from: u64,
    from_root: Hash,
    to: u64,
    to_root: Hash,
) -> Result<(), LogError> {
    let fail = || LogError::Consistency {
        from,
        from_root: from_root.to_string(),
        to,
        to_root: to_root.to_string(),
    };
    if from > to {
        return Err(fail());
    }
    if from == to {
        return if from_root == to_root {
            Ok(())
        } else {
            Err(fail())
        };
    }
    if from == 0 {
        return Ok(());
    }
    tlog_tiles::check_tree(&proof.to_vec(), to, to_root, from, from_root).map_err(|_| fail())
}

/// The stored-hash indexes (`tlog_tiles::stored_hash_index` order) that appending entry
/// `n` reads: the roots of the complete subtrees it closes.
pub fn append_reads(n: u64) -> Vec<u64> {
    let m = (n + 1).trailing_zeros() as u8;
    (0..m)
        .rev()
        .map(|i| tlog_tiles::stored_hash_index(i, (n >> i) - 1))
        .collect()
}

/// The hashes to store when appending entry `n` with leaf hash `leaf`, starting at
/// stored index `tlog_tiles::stored_hash_index(0, n)`; `old` has the hashes
/// [`append_reads`] named.
pub fn append_hashes(n: u64, leaf: Hash, old: &HashMap<u64, Hash>) -> Result<Vec<Hash>, LogError> {
    tlog_tiles::stored_hashes_for_record_hash(n, leaf, &MapReader(old))
        .map_err(|e| LogError::Malformed(format!("appending entry {n}: {e}")))
}

/// Where entry `n`'s hashes start among the stored hashes.
pub fn stored_index(n: u64) -> u64 {
    tlog_tiles::stored_hash_index(0, n)
}

/// How many stored hashes a tree of `size` entries has.
pub fn stored_count(size: u64) -> u64 {
    tlog_tiles::stored_hash_count(size)
}

/// Stored hashes read from a map; a missing one is an error.
pub struct MapReader<'a>(pub &'a HashMap<u64, Hash>);

impl HashReader for MapReader<'_> {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, tlog_tiles::Error> {
        indexes
            .iter()
            .map(|i| {
                self.0
                    .get(i)
                    .copied()
                    .ok_or(tlog_tiles::Error::IndexesNotInTree)
            })
            .collect()
    }
}

/// Which stored hashes a computation over a [`HashReader`] reads: runs `work` on a
/// reader that answers zeros and records what was asked. The indexes a proof or a
/// root reads depend on the sizes only, never on the hashes, so a server fetches
/// exactly these and runs `work` again on them.
pub fn reads_of<T>(work: impl Fn(&dyn DynReader) -> T) -> Vec<u64> {
    let recorder = Recorder(std::cell::RefCell::new(Vec::new()));
    let _ = work(&recorder);
    let mut indexes = recorder.0.into_inner();
    indexes.sort_unstable();
    indexes.dedup();
    indexes
}

/// A [`HashReader`] as a trait object.
pub trait DynReader {
    /// See [`HashReader::read_hashes`].
    fn read(&self, indexes: &[u64]) -> Result<Vec<Hash>, tlog_tiles::Error>;
}

impl<R: HashReader> DynReader for R {
    fn read(&self, indexes: &[u64]) -> Result<Vec<Hash>, tlog_tiles::Error> {
        self.read_hashes(indexes)
    }
}

struct Recorder(std::cell::RefCell<Vec<u64>>);

impl HashReader for Recorder {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, tlog_tiles::Error> {
        self.0.borrow_mut().extend_from_slice(indexes);
        Ok(vec![Hash([0; HASH_SIZE]); indexes.len()])
    }
}

struct Dyn<'a>(&'a dyn DynReader);

impl HashReader for Dyn<'_> {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, tlog_tiles::Error> {
        self.0.read(indexes)
    }
}

/// The root hash of the tree of `size` entries.
pub fn tree_root(size: u64, reader: &dyn DynReader) -> Result<Hash, LogError> {
    tlog_tiles::tree_hash(size, &Dyn(reader))
        .map_err(|e| LogError::Malformed(format!("the root of the tree of size {size}: {e}")))
}

/// The inclusion proof of entry `index` in the tree of `size` entries.
pub fn prove_inclusion(
    size: u64,
    index: u64,
    reader: &dyn DynReader,
) -> Result<Vec<Hash>, LogError> {
    tlog_tiles::prove_record(size, index, &Dyn(reader)).map_err(|e| {
        LogError::Malformed(format!(
            "proving entry {index} in the tree of size {size}: {e}"
        ))
    })
}

/// The consistency proof from the tree of `from` entries to the tree of `to`.
pub fn prove_consistency(
    to: u64,
    from: u64,
    reader: &dyn DynReader,
) -> Result<Vec<Hash>, LogError> {
    tlog_tiles::prove_tree(to, from, &Dyn(reader)).map_err(|e| {
        LogError::Malformed(format!(
            "proving size {from} consistent with size {to}: {e}"
        ))
    })
}

/// A whole tree in memory: what an auditor (`wharf log verify`) and `fsck` rebuild
/// from the entries to compare with what the registry stored and signed.
#[derive(Debug, Default, Clone)]
pub struct Tree {
    size: u64,
    stored: Vec<Hash>,
    by_index: HashMap<u64, Hash>,
}

impl Tree {
    /// Appends a leaf.
    pub fn push(&mut self, leaf: Hash) {
        let reads = append_reads(self.size);
        let old: HashMap<u64, Hash> = reads
            .iter()
            .map(|i| (*i, self.stored[*i as usize]))
            .collect();
        let new = append_hashes(self.size, leaf, &old).expect("a tree in memory has every hash");
        let start = stored_index(self.size);
        for (k, hash) in new.into_iter().enumerate() {
            self.by_index.insert(start + k as u64, hash);
            self.stored.push(hash);
        }
        self.size += 1;
    }

    /// The number of entries.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Every stored hash, in `tlog_tiles::stored_hash_index` order.
    pub fn stored(&self) -> &[Hash] {
        &self.stored
    }

    /// The root hash of the first `size` entries.
    pub fn root_at(&self, size: u64) -> Result<Hash, LogError> {
        tree_root(size, &MapReader(&self.by_index))
    }

    /// The root hash.
    pub fn root(&self) -> Hash {
        self.root_at(self.size)
            .expect("a tree in memory has every hash")
    }

    /// The inclusion proof of `index` in the first `size` entries.
    pub fn inclusion(&self, size: u64, index: u64) -> Result<Vec<Hash>, LogError> {
        prove_inclusion(size, index, &MapReader(&self.by_index))
    }

    /// The consistency proof from `from` entries to `to`.
    pub fn consistency(&self, from: u64, to: u64) -> Result<Vec<Hash>, LogError> {
        prove_consistency(to, from, &MapReader(&self.by_index))
    }
}

/// The canonical checkpoint text (C2SP tlog-checkpoint) of a tree.
pub fn checkpoint_text(origin: &str, size: u64, root: Hash) -> Result<Vec<u8>, LogError> {
    Checkpoint::new(origin, size, root, "")
        .map(|c| c.to_bytes())
        .map_err(|e| LogError::Malformed(format!("checkpoint of `{origin}`: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(i: usize) -> Vec<u8> {
        Entry::version(
            Action::Publish,
            &format!("wharf:p{i}@1.0.0"),
            &format!("sha256:{:064x}", i),
            "alice",
            i as i64,
        )
        .to_bytes()
    }

    #[test]
    fn entries_round_trip_and_refuse_other_forms() {
        let e = Entry::namespace(Action::OwnerAdd, "wharf", "bob", "alice", 5);
        let bytes = e.to_bytes();
        assert_eq!(Entry::parse(&bytes).unwrap(), e);
        let text = String::from_utf8(bytes).unwrap();
        for bad in [
            text.replace("owner bob", "digest bob"),
            text.replace("time 5", "time 05"),
            text.replace("actor alice", "actor  alice"),
            text.trim_end().to_owned(),
            text.replace("v1", "v2"),
        ] {
            assert!(Entry::parse(bad.as_bytes()).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn proofs_from_a_tree_verify_and_fail_when_tampered() {
        let mut tree = Tree::default();
        for i in 0..37 {
            tree.push(leaf_hash(&entry(i)));
        }
        let root = tree.root();
        for index in [0, 1, 17, 36] {
            let proof = tree.inclusion(37, index).unwrap();
            let leaf = leaf_hash(&entry(index as usize));
            check_inclusion(&proof, 37, root, index, leaf).unwrap();
            let other = leaf_hash(&entry(index as usize + 1));
            assert!(check_inclusion(&proof, 37, root, index, other).is_err());
        }
        let old = tree.root_at(20).unwrap();
        let proof = tree.consistency(20, 37).unwrap();
        check_consistency(&proof, 20, old, 37, root).unwrap();
        let mut forked = Tree::default();
        for i in 0..37 {
            forked.push(leaf_hash(&entry(if i == 3 { 99 } else { i })));
        }
        let forked_root = forked.root();
        let proof = forked.consistency(20, 37).unwrap();
        assert!(check_consistency(&proof, 20, old, 37, forked_root).is_err());
    }

    #[test]
    fn reads_of_names_what_a_proof_reads() {
        let mut tree = Tree::default();
        for i in 0..100 {
            tree.push(leaf_hash(&entry(i)));
        }
        let indexes = reads_of(|r| prove_inclusion(100, 42, r));
        let subset: HashMap<u64, Hash> = indexes
            .iter()
            .map(|i| (*i, tree.stored()[*i as usize]))
            .collect();
        let proof = prove_inclusion(100, 42, &MapReader(&subset)).unwrap();
        assert_eq!(proof, tree.inclusion(100, 42).unwrap());
    }
}
