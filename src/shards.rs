//! A read-mostly cache bounded by bytes, for the caches a request reads on every hit (the
//! verified-token cache, the introspection result cache).
//!
//! A hit writes nothing shared: the entries live in shards, each an immutable table behind an
//! [`ArcSwap`] that a change copies and replaces under the shard's writer lock. moka, which
//! both caches used before, records every hit in a shared buffer for its eviction policy: a
//! hit cost twice the CPU with two cores hitting at once, and two cores served fewer hits
//! than one (`cargo bench --bench ratios`, groups `tasks` and `structures`).
//!
//! The byte budget is shared by all shards (a small budget cannot be split among them). Past
//! it the oldest entries of the inserting shard go first; if that is not enough, those of
//! the shard holding the oldest entry, and so on.
//! An entry past its lifetime is never served, and is dropped when its shard is next copied.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::{BuildHasher, Hash};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;

/// Shards of the entries: an insert copies one shard, so more shards make inserts cheaper
/// (about 50 entries each in a 32 MiB verified-token cache); a hit reads one.
const SHARDS: usize = 256;

/// A value with what the cache needs to know of it.
struct Slot<V> {
    value: V,
    /// When it leaves the cache.
    expires: Instant,
    /// Its place in the order of insertions: the oldest is evicted first.
    order: u64,
    /// What it weighs against the byte budget.
    weight: u32,
}

impl<V> Slot<V> {
    fn live_at(&self, now: Instant) -> bool {
        now < self.expires
    }
}

type Table<K, V, S> = HashMap<K, Arc<Slot<V>>, S>;

/// One shard: its current table, replaced whole by each change.
struct Shard<K, V, S> {
    table: ArcSwap<Table<K, V, S>>,
    /// Taken by the shard's writers (an insert, an eviction) only: a hit never waits for it.
    writer: Mutex<()>,
}

/// Values by key in read-mostly shards, bounded by a byte budget; see the module's doc.
pub(crate) struct ShardedCache<K, V, S> {
    shards: Box<[Shard<K, V, S>]>,
    hasher: S,
    budget: u64,
    /// The weight of every entry the shards hold, expired or not.
    weight: AtomicU64,
    /// Insertions so far: the next entry's `order`.
    insertions: AtomicU64,
}

impl<K, V, S> ShardedCache<K, V, S>
where
    K: Hash + Eq + Clone,
    S: BuildHasher + Clone,
{
    pub(crate) fn new(budget: u64, hasher: S) -> Self {
        let empty = Arc::new(Table::with_hasher(hasher.clone()));
        ShardedCache {
            shards: (0..SHARDS)
                .map(|_| Shard {
                    table: ArcSwap::new(Arc::clone(&empty)),
                    writer: Mutex::new(()),
                })
                .collect(),
            hasher,
            budget,
            weight: AtomicU64::new(0),
            insertions: AtomicU64::new(0),
        }
    }

    /// The hash of `key` that [`get`](Self::get) and [`insert`](Self::insert) take (their
    /// caller may use it too: the verified-token cache's doorkeeper does).
    pub(crate) fn hash<Q: Hash + ?Sized>(&self, key: &Q) -> u64 {
        self.hasher.hash_one(key)
    }

    /// `read` applied to the live value of `key` (whose [`hash`](Self::hash) is `hash`).
    pub(crate) fn get<Q, R>(&self, hash: u64, key: &Q, read: impl FnOnce(&V) -> R) -> Option<R>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let table = self.shards[shard_of(hash)].table.load();
        let slot = table.get(key)?;
        slot.live_at(Instant::now()).then(|| read(&slot.value))
    }

    /// Keeps `value` under `key` (whose [`hash`](Self::hash) is `hash`) for `lifetime`,
    /// weighing `weight` bytes; nothing heavier than the whole budget is kept.
    pub(crate) fn insert(&self, hash: u64, key: K, value: V, weight: u32, lifetime: Duration) {
        if u64::from(weight) > self.budget || lifetime.is_zero() {
            return;
        }
        let now = Instant::now();
        // Both caches cap their lifetimes (a day, the configured maximum): a lifetime past
        // what the clock can count is not cached rather than a panic.
        let Some(expires) = now.checked_add(lifetime) else {
            return;
        };
        let slot = Arc::new(Slot {
            value,
            expires,
            order: self.insertions.fetch_add(1, Ordering::Relaxed),
            weight,
        });
        let shard = shard_of(hash);
        self.rewrite(shard, now, |table, over| {
            table.insert(key.clone(), slot);
            // Room is made here first, never at the new entry's expense.
            while over(table) && evict_oldest(table, Some(&key)) {}
        });
        // What this shard could not free comes from the shard holding the oldest entry, as
        // much as it takes (a scan of every shard per victim: this happens when this shard
        // held nothing older, in a small cache or for an entry far heavier than the others).
        for _ in 0..SHARDS {
            if self.weight.load(Ordering::Relaxed) <= self.budget {
                break;
            }
            let Some(victim) = self.shard_of_oldest(shard, now) else {
                break;
            };
            self.rewrite(victim, now, |table, over| {
                while over(table) && evict_oldest(table, None) {}
            });
        }
    }

    /// The shard, other than `skip`, that holds the oldest entry live at `now`.
    fn shard_of_oldest(&self, skip: usize, now: Instant) -> Option<usize> {
        let oldest_of = |shard: &Shard<K, V, S>| {
            let table = shard.table.load();
            table
                .values()
                .filter(|slot| slot.live_at(now))
                .map(|slot| slot.order)
                .min()
        };
        self.shards
            .iter()
            .enumerate()
            .filter(|(index, _)| *index != skip)
            .filter_map(|(index, shard)| oldest_of(shard).map(|order| (order, index)))
            .min()
            .map(|(_, index)| index)
    }

    /// The live entries and their weight in bytes.
    pub(crate) fn size(&self) -> (u64, u64) {
        let now = Instant::now();
        self.shards.iter().fold((0, 0), |(entries, bytes), shard| {
            let table = shard.table.load();
            table
                .values()
                .filter(|slot| slot.live_at(now))
                .fold((entries, bytes), |(entries, bytes), slot| {
                    (entries + 1, bytes + u64::from(slot.weight))
                })
        })
    }

    /// Replaces shard `index`'s table with a copy that leaves out the entries expired at
    /// `now` and that `change` then edits; `change` can ask whether the cache is over its
    /// budget with a table as it stands. Keeps `weight` the sum of what the shards hold.
    fn rewrite(
        &self,
        index: usize,
        now: Instant,
        change: impl FnOnce(&mut Table<K, V, S>, &dyn Fn(&Table<K, V, S>) -> bool),
    ) {
        let shard = &self.shards[index];
        let _writer = shard.writer.lock().unwrap_or_else(PoisonError::into_inner);
        let current = shard.table.load_full();
        let before = table_weight(&current);
        let mut table = Table::with_capacity_and_hasher(current.len() + 1, self.hasher.clone());
        table.extend(
            current
                .iter()
                .filter(|(_, slot)| slot.live_at(now))
                .map(|(key, slot)| (key.clone(), Arc::clone(slot))),
        );
        let others = self.weight.load(Ordering::Relaxed).saturating_sub(before);
        let over =
            |table: &Table<K, V, S>| others.saturating_add(table_weight(table)) > self.budget;
        change(&mut table, &over);
        let after = table_weight(&table);
        shard.table.store(Arc::new(table));
        if after >= before {
            self.weight.fetch_add(after - before, Ordering::Relaxed);
        } else {
            self.weight.fetch_sub(before - after, Ordering::Relaxed);
        }
    }
}

/// The shard of a hash: its high bits (a caller may use the low ones, as the doorkeeper does).
fn shard_of(hash: u64) -> usize {
    (hash >> (64 - SHARDS.trailing_zeros())) as usize
}

fn table_weight<K, V, S>(table: &Table<K, V, S>) -> u64 {
    table.values().map(|slot| u64::from(slot.weight)).sum()
}

/// Removes the oldest entry of `table` but `keep`'s; whether there was one to remove.
fn evict_oldest<K, V, S>(table: &mut Table<K, V, S>, keep: Option<&K>) -> bool
where
    K: Hash + Eq + Clone,
    S: BuildHasher,
{
    let oldest = table
        .iter()
        .filter(|(key, _)| keep != Some(*key))
        .min_by_key(|(_, slot)| slot.order)
        .map(|(key, _)| key.clone());
    oldest.is_some_and(|key| table.remove(&key).is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache(budget: u64) -> ShardedCache<String, usize, foldhash::fast::RandomState> {
        ShardedCache::new(budget, foldhash::fast::RandomState::default())
    }

    fn insert(cache: &ShardedCache<String, usize, foldhash::fast::RandomState>, key: &str) {
        let hash = cache.hash(key);
        cache.insert(
            hash,
            key.to_owned(),
            key.len(),
            100,
            Duration::from_secs(60),
        );
    }

    fn held(cache: &ShardedCache<String, usize, foldhash::fast::RandomState>, key: &str) -> bool {
        cache.get(cache.hash(key), key, |_| ()).is_some()
    }

    #[test]
    fn past_the_budget_the_oldest_entries_go_first_whatever_their_shard() {
        let cache = cache(1_000);
        let keys: Vec<String> = (0..100).map(|i| format!("key-{i}")).collect();
        for key in &keys {
            insert(&cache, key);
            assert!(held(&cache, key), "the newest is held");
            assert!(cache.size().1 <= 1_000, "{:?}", cache.size());
        }
        assert_eq!(cache.size(), (10, 1_000), "ten of 100 bytes fit");
        assert!(!held(&cache, &keys[0]), "the oldest went first");
        // Too heavy for the whole budget: not kept, nothing evicted for it.
        cache.insert(
            cache.hash("heavy"),
            "heavy".into(),
            0,
            1_001,
            Duration::from_secs(60),
        );
        assert!(!held(&cache, "heavy"));
        assert_eq!(cache.size(), (10, 1_000));
        // Nine times heavier than the others: room is made across the shards, and the
        // budget holds.
        cache.insert(
            cache.hash("large"),
            "large".into(),
            0,
            900,
            Duration::from_secs(60),
        );
        assert!(held(&cache, "large"));
        let (entries, bytes) = cache.size();
        assert!(
            bytes <= 1_000 && entries >= 1,
            "{entries} entries, {bytes} bytes"
        );
    }

    #[test]
    fn an_entry_past_its_lifetime_is_neither_served_nor_counted() {
        let cache = cache(1_000);
        let hash = cache.hash("short");
        cache.insert(hash, "short".into(), 1, 100, Duration::from_millis(50));
        assert_eq!(cache.get(hash, "short", |value| *value), Some(1));
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(cache.get(hash, "short", |value| *value), None);
        assert_eq!(cache.size(), (0, 0));
        // A zero lifetime keeps nothing.
        cache.insert(hash, "short".into(), 1, 100, Duration::ZERO);
        assert_eq!(cache.size(), (0, 0));
    }
}
