//! The per-thread cache of prepared records behind SQL `mpi_score`, with its own small hasher.
use super::*;

/// Longest JSON text the prepared-record cache keeps.
pub(super) const PREPARED_JSON_MAX: usize = 4096;
/// Records the cache holds before it is cleared.
pub(super) const PREPARED_CACHE_MAX: usize = 4096;
/// Slots of the filter that remembers which records were prepared once.
pub(super) const SEEN_SLOTS: usize = 4096;

/// Records prepared recently, by JSON text: SQL such as `mpi_score(a.j, b.j)` over a join passes
/// the same records many times, so each is prepared once. Bounded: cleared when full.
///
/// Keeping a record costs a copy of its text and a map insertion, wasted when every row brings
/// new records (pairs from a blocking query). So a record is kept only when reuse is likely: the
/// cache has been hitting lately (at least one lookup in nine), or this very text was prepared
/// before (a direct-mapped filter of text hashes remembers the recent ones).
pub(super) struct PreparedCache {
    pub(super) map: HashMap<Box<str>, Rc<PreparedRecord>, BuildHasherDefault<FastHasher>>,
    pub(super) seen: Box<[u64]>,
    pub(super) hits: u32,
    pub(super) misses: u32,
    /// Records not kept, returned after their call to be refilled by the next ones.
    pub(super) spare: [Option<Box<PreparedRecord>>; 2],
}

thread_local! {
    pub(super) static PREPARED: RefCell<PreparedCache> = RefCell::new(PreparedCache {
        map: HashMap::default(),
        seen: vec![0; SEEN_SLOTS].into_boxed_slice(),
        hits: 0,
        misses: 0,
        spare: [None, None],
    });
}

/// A prepared record, shared with the cache or not kept. Boxed, so that handing a spare record
/// around moves a pointer, not the record.
pub(super) enum Prepared {
    Shared(Rc<PreparedRecord>),
    Own(Box<PreparedRecord>),
}

impl Prepared {
    /// Gives a record that was not kept back to the spares, for the next call to refill.
    pub(super) fn recycle(self) {
        if let Prepared::Own(p) = self {
            let _ = PREPARED.try_with(|cache| {
                if let Ok(mut cache) = cache.try_borrow_mut() {
                    if let Some(slot) = cache.spare.iter_mut().find(|s| s.is_none()) {
                        *slot = Some(p);
                    }
                }
            });
        }
    }
}

impl std::ops::Deref for Prepared {
    type Target = PreparedRecord;
    fn deref(&self) -> &PreparedRecord {
        match self {
            Prepared::Shared(p) => p,
            Prepared::Own(p) => p,
        }
    }
}

/// FxHash-style multiply-rotate hash over 8 bytes at a time, with a final mix so the low bits
/// (the map's bucket index) depend on every byte. SipHash's resistance to chosen collisions buys
/// nothing here (the texts are the box's own records, the map is small and cleared when full)
/// and cost as much as a tenth of preparing a record; no crate for fifteen lines.
#[derive(Default, Clone, Copy)]
pub(super) struct FastHasher(u64);

impl FastHasher {
    const K: u64 = 0x517c_c1b7_2722_0a95;
    pub(super) fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(Self::K);
    }
}

impl Hasher for FastHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
        let rest = chunks.remainder();
        let mut word = [0u8; 8];
        word[..rest.len()].copy_from_slice(rest);
        // The length separates "ab" from "ab\0".
        self.add(u64::from_le_bytes(word) ^ ((rest.len() as u64) << 59));
    }
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }
    fn finish(&self) -> u64 {
        let h = self.0;
        (h ^ (h >> 32)).wrapping_mul(Self::K) ^ (h >> 29)
    }
}

pub(super) fn prepared_cached(json: &str, argument: usize) -> Result<Prepared, MpiError> {
    if json.len() > PREPARED_JSON_MAX {
        return PreparedRecord::from_json(json, argument).map(|p| Prepared::Own(Box::new(p)));
    }
    // Look up, and decide whether a miss is worth keeping (see `PreparedCache`).
    let looked_up = PREPARED.try_with(|cache| {
        let mut cache = cache.try_borrow_mut().ok()?;
        if let Some(p) = cache.map.get(json) {
            let p = Rc::clone(p);
            cache.hits = cache.hits.saturating_add(1);
            return Some(Err(p));
        }
        cache.misses = cache.misses.saturating_add(1);
        if cache.hits.saturating_add(cache.misses) >= 1 << 16 {
            // Forget slowly: the hit rate follows the query being run.
            cache.hits /= 2;
            cache.misses /= 2;
        }
        let h = BuildHasherDefault::<FastHasher>::default().hash_one(json);
        let slot = &mut cache.seen[(h as usize) % SEEN_SLOTS];
        let seen_before = *slot == h;
        *slot = h;
        let keep = seen_before || cache.hits.saturating_mul(8) >= cache.misses;
        let spare = if keep {
            None
        } else {
            cache.spare.iter_mut().find_map(Option::take)
        };
        Some(Ok((keep, spare)))
    });
    let (keep, spare) = match looked_up {
        Ok(Some(Err(shared))) => return Ok(Prepared::Shared(shared)),
        Ok(Some(Ok(decided))) => decided,
        // The thread is exiting or the cache is busy: prepare without it.
        Ok(None) | Err(_) => (false, None),
    };
    if !keep {
        let mut p = spare.unwrap_or_default();
        // On an error the record is dropped: the next call allocates a fresh spare.
        p.fill_json(json, argument)?;
        return Ok(Prepared::Own(p));
    }
    let p = PreparedRecord::from_json(json, argument)?;
    let p = Rc::new(p);
    let _ = PREPARED.try_with(|cache| {
        if let Ok(mut cache) = cache.try_borrow_mut() {
            if cache.map.len() >= PREPARED_CACHE_MAX {
                cache.map.clear();
            }
            cache.map.insert(json.into(), Rc::clone(&p));
        }
    });
    Ok(Prepared::Shared(p))
}
