//! One stable sort for the paths that sort little or rarely: the API's pages and label maps,
//! the web page, the flags, `Accept` ranges, the gateway's own families.
//!
//! The standard library's sort is compiled anew for every element type and comparison, 2 to
//! 12 KB each at opt-level 3; a dozen of them were 84 KB, 4% of the static binary. Here they share
//! one compiled sort of indices, paying an indirect call per comparison and two index
//! vectors, which these callers can afford. The push path (labels by name, series by labels),
//! the push summaries' windows sorted at every scrape and compaction's millions of members
//! keep the standard sort.

use std::cmp::Ordering;

/// Sorts `items` by `cmp`, keeping the order of equal items.
pub(crate) fn sort_by<T>(items: &mut [T], mut cmp: impl FnMut(&T, &T) -> Ordering) {
    let mut order: Vec<usize> = (0..items.len()).collect();
    sort_indices(&mut order, &mut |a, b| cmp(&items[a], &items[b]));
    permute(items, &order);
}

/// [`sort_by`], comparing the keys `key` takes from the items.
pub(crate) fn sort_by_key<T, K: Ord>(items: &mut [T], mut key: impl FnMut(&T) -> K) {
    sort_by(items, |a, b| key(a).cmp(&key(b)));
}

/// The one instantiation of the standard sort: ties go by index, so the result is stable.
fn sort_indices(order: &mut [usize], cmp: &mut dyn FnMut(usize, usize) -> Ordering) {
    order.sort_unstable_by(|&a, &b| cmp(a, b).then(a.cmp(&b)));
}

/// Moves what was at `order[k]` to `k`, for every `k`, by swaps.
fn permute<T>(items: &mut [T], order: &[usize]) {
    // `at[p]`: where the item now at `p` started; `pos[i]`: where the item that started at
    // `i` is now.
    let mut at: Vec<usize> = (0..items.len()).collect();
    let mut pos = at.clone();
    for (k, &wanted) in order.iter().enumerate() {
        let p = pos[wanted];
        if p != k {
            items.swap(k, p);
            let displaced = at[k];
            at[p] = displaced;
            pos[displaced] = p;
            at[k] = wanted;
            pos[wanted] = k;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorts_like_the_standard_stable_sort() {
        let mut rng = fastrand::Rng::with_seed(7);
        for len in [0, 1, 2, 3, 10, 33, 500] {
            for _ in 0..20 {
                // Few distinct keys, so many ties whose order must be kept.
                let items: Vec<(u8, usize)> = (0..len).map(|i| (rng.u8(0..5), i)).collect();
                let mut ours = items.clone();
                sort_by_key(&mut ours, |&(k, _)| k);
                let mut std = items;
                std.sort_by_key(|&(k, _)| k);
                assert_eq!(ours, std);
            }
        }
    }

    #[test]
    fn reverse_order_and_owned_items() {
        let mut v: Vec<String> = ["b", "c", "a", "c"].map(String::from).to_vec();
        sort_by(&mut v, |a, b| b.cmp(a));
        assert_eq!(v, ["c", "c", "b", "a"]);
    }
}
