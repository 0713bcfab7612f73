//! The shapes of grouping keys in use (a shape is a key's set of label names), counted, and
//! kept in a trie by sorted name so that the consistency check can list the shapes contained
//! in a series' label names in time proportional to what it finds, not to how many shapes
//! exist: clients make new shapes cheaply (even a refused push creates its group).

use std::collections::HashMap;

#[derive(Debug, Default)]
pub(super) struct Shapes {
    root: Node,
    /// How many shapes some group has.
    in_use: usize,
}

#[derive(Debug, Default)]
struct Node {
    /// Groups whose shape is the path to this node.
    groups: usize,
    children: HashMap<Box<str>, Node>,
}

impl Shapes {
    /// Counts one more group of shape `names` (sorted).
    pub(super) fn add<'a>(&mut self, names: impl IntoIterator<Item = &'a str>) {
        let mut node = &mut self.root;
        for name in names {
            node = node.children.entry(name.into()).or_default();
        }
        if node.groups == 0 {
            self.in_use += 1;
        }
        node.groups += 1;
    }

    /// Counts one group of shape `names` (sorted) less; a shape no group has is forgotten.
    pub(super) fn remove<'a>(&mut self, names: impl IntoIterator<Item = &'a str>) {
        /// Whether the shape went out of use.
        fn remove(node: &mut Node, names: &[&str]) -> bool {
            let Some((first, rest)) = names.split_first() else {
                let had = node.groups;
                node.groups = had.saturating_sub(1);
                return had == 1;
            };
            let Some(child) = node.children.get_mut(*first) else {
                return false;
            };
            let gone = remove(child, rest);
            if child.groups == 0 && child.children.is_empty() {
                node.children.remove(*first);
            }
            gone
        }
        let names: Vec<&str> = names.into_iter().collect();
        if remove(&mut self.root, &names) {
            self.in_use -= 1;
        }
    }

    /// Whether no group has a shape other than `names` (sorted): then no other group can
    /// hold a series of a group of that shape, which the consistency check need not look for.
    pub(super) fn only<'a>(&self, names: impl IntoIterator<Item = &'a str>) -> bool {
        match self.in_use {
            0 => true,
            1 => self.groups(names) > 0,
            _ => false,
        }
    }

    /// How many groups have shape `names` (sorted).
    pub(super) fn groups<'a>(&self, names: impl IntoIterator<Item = &'a str>) -> usize {
        let mut node = &self.root;
        for name in names {
            match node.children.get(name) {
                Some(child) => node = child,
                None => return 0,
            }
        }
        node.groups
    }

    /// Calls `found` with each shape in use whose names are all in `names` (sorted), given as
    /// the positions of its names in `names`. Only nodes on the way to such a shape are
    /// visited, each at the cost of a lookup per name of `names` after the ones taken.
    pub(super) fn subsets_of(&self, names: &[&str], mut found: impl FnMut(&[usize])) {
        fn walk(
            node: &Node,
            names: &[&str],
            from: usize,
            path: &mut Vec<usize>,
            found: &mut dyn FnMut(&[usize]),
        ) {
            if node.groups > 0 {
                found(path);
            }
            if node.children.is_empty() {
                return;
            }
            for (i, name) in names.iter().enumerate().skip(from) {
                if let Some(child) = node.children.get(*name) {
                    path.push(i);
                    walk(child, names, i + 1, path, found);
                    path.pop();
                }
            }
        }
        walk(&self.root, names, 0, &mut Vec::new(), &mut found);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subsets(shapes: &Shapes, names: &[&str]) -> Vec<Vec<String>> {
        let mut out = Vec::new();
        shapes.subsets_of(names, |at| {
            out.push(at.iter().map(|&i| names[i].to_string()).collect())
        });
        out.sort();
        out
    }

    #[test]
    fn subsets_counts_and_forgetting() {
        let mut s = Shapes::default();
        for shape in [
            &["job"][..],
            &["a", "job"],
            &["a", "job"],
            &["a", "b", "job"],
            &["b", "job"],
            &["c", "job"],
            &["job", "z"],
        ] {
            s.add(shape.iter().copied());
        }
        assert_eq!(s.groups(["a", "job"]), 2);
        assert_eq!(s.groups(["a"]), 0);
        assert_eq!(
            subsets(&s, &["a", "b", "instance", "job"]),
            [
                vec!["a", "b", "job"],
                vec!["a", "job"],
                vec!["b", "job"],
                vec!["job"]
            ]
        );
        assert_eq!(subsets(&s, &["instance", "z"]), Vec::<Vec<String>>::new());
        s.remove(["a", "job"]);
        assert_eq!(s.groups(["a", "job"]), 1);
        s.remove(["a", "job"]);
        s.remove(["a", "b", "job"]);
        s.remove(["never", "added"]);
        assert_eq!(
            subsets(&s, &["a", "b", "job"]),
            [vec!["b", "job"], vec!["job"]]
        );
        assert!(!s.root.children.contains_key("a"), "emptied branches go");
    }

    #[test]
    fn only_one_shape_in_use() {
        let mut s = Shapes::default();
        assert!(s.only(["job"]), "no shape at all");
        s.add(["job"]);
        s.add(["job"]);
        assert!(s.only(["job"]) && !s.only(["instance", "job"]));
        s.add(["instance", "job"]);
        assert!(!s.only(["job"]) && !s.only(["instance", "job"]));
        s.remove(["job"]);
        assert!(
            !s.only(["instance", "job"]),
            "one group of shape job is left"
        );
        s.remove(["job"]);
        s.remove(["never", "added"]);
        s.remove(["job"]);
        assert!(s.only(["instance", "job"]) && !s.only(["job"]));
        s.remove(["instance", "job"]);
        assert!(s.only(["job"]), "none left");
    }

    #[test]
    fn many_shapes_cost_only_what_matches() {
        let mut s = Shapes::default();
        for i in 0..50_000 {
            s.add([format!("a{i:05}").as_str(), "job"]);
        }
        let mut visits = 0;
        s.subsets_of(&["a00042", "b", "instance", "job"], |_| visits += 1);
        assert_eq!(visits, 1);
        assert_eq!(subsets(&s, &["a00042", "job"]), [vec!["a00042", "job"]]);
    }
}
