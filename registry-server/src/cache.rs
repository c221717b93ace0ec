//! A memory cache of blob contents by digest. Content-addressed data never changes, so
//! a cached blob is never stale and the cache needs no invalidation, across replicas
//! too; the registry still checks in the database that a repository may serve a blob
//! before serving it from here. Oldest entries go first when the cache is full.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use bytes::Bytes;
use wharf_types::Digest;

/// Recently served blobs, by digest, within a byte budget (least recently used go first).
pub struct BlobCache {
    inner: Mutex<Inner>,
    capacity: usize,
    max_item: usize,
}

#[derive(Default)]
struct Inner {
    items: HashMap<Digest, Bytes>,
    order: VecDeque<Digest>,
    size: usize,
}

impl BlobCache {
    /// Holds at most `capacity` bytes, each blob at most `max_item`; 0 disables it.
    pub fn new(capacity: usize, max_item: usize) -> Self {
        Self {
            inner: Mutex::default(),
            capacity,
            max_item,
        }
    }

    /// The blob, if it is in memory.
    pub fn get(&self, digest: &Digest) -> Option<Bytes> {
        self.inner
            .lock()
            .expect("cache lock")
            .items
            .get(digest)
            .cloned()
    }

    /// Keeps the blob, unless it is over the size limit, evicting the least recently used to make room.
    pub fn insert(&self, digest: &Digest, bytes: &Bytes) {
        if bytes.len() > self.max_item || bytes.len() > self.capacity {
            return;
        }
        let mut inner = self.inner.lock().expect("cache lock");
        if inner.items.contains_key(digest) {
            return;
        }
        while inner.size + bytes.len() > self.capacity {
            let Some(oldest) = inner.order.pop_front() else {
                break;
            };
            if let Some(evicted) = inner.items.remove(&oldest) {
                inner.size -= evicted.len();
            }
        }
        inner.size += bytes.len();
        inner.order.push_back(digest.clone());
        inner.items.insert(digest.clone(), bytes.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_oldest_blobs_leave_first_and_big_ones_never_enter() {
        let cache = BlobCache::new(10, 6);
        let blob = |s: &'static [u8]| (Digest::of(s), Bytes::from_static(s));
        let (a, b, c, big) = (
            blob(b"aaaa"),
            blob(b"bbbb"),
            blob(b"cccc"),
            blob(b"1234567"),
        );
        cache.insert(&a.0, &a.1);
        cache.insert(&b.0, &b.1);
        cache.insert(&c.0, &c.1);
        cache.insert(&big.0, &big.1);
        assert_eq!(cache.get(&a.0), None);
        assert_eq!(cache.get(&b.0), Some(b.1));
        assert_eq!(cache.get(&c.0), Some(c.1));
        assert_eq!(cache.get(&big.0), None);
    }
}
