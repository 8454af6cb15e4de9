//! Work over a slice spread across the available cores: the person checks
//! and the content hashes are the transform's two costly per-entity steps.

/// Calls `work(index, item)` for every item of `items`, in one contiguous
/// chunk per available core (scoped threads; one chunk when the number of
/// cores is unknown).
pub(crate) fn for_each_mut<T: Send>(items: &mut [T], work: impl Fn(usize, &mut T) + Sync) {
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .max(1);
    let chunk = items.len().div_ceil(threads).max(1);
    std::thread::scope(|scope| {
        for (k, part) in items.chunks_mut(chunk).enumerate() {
            let work = &work;
            scope.spawn(move || {
                for (j, item) in part.iter_mut().enumerate() {
                    work(k * chunk + j, item);
                }
            });
        }
    });
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_item_is_visited_once_with_its_index() {
        let mut items = vec![0usize; 1001];
        super::for_each_mut(&mut items, |i, item| *item += i + 1);
        assert!(items.iter().enumerate().all(|(i, v)| *v == i + 1));
    }
}
