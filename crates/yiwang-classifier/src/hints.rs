//! Hints from a category tree: each sub-category's names, labelled with its first-level
//! category, teach the model words a few hundred messages may lack ("噪音污染" for 环境保护).

use crate::model::Sample;

/// What a tree calls a catch-all sub-category; its name says nothing about the category.
const OTHER: &str = "其他";

/// One hint per (level 1, level 2, level 3) row of a category tree whose level 1 is in
/// `labels`: the text "level2。level3" (level 3 left out when it is "其他"), labelled level 1.
/// Rows saying nothing ("其他" at both levels) and repeats are skipped; the order is the
/// tree's.
pub fn category_hints<'a>(
    tree: impl IntoIterator<Item = (&'a str, &'a str, &'a str)>,
    labels: &[String],
) -> Vec<Sample> {
    let mut hints: Vec<Sample> = Vec::new();
    for (level1, level2, level3) in tree {
        if !labels.iter().any(|l| l == level1) || (level2 == OTHER && level3 == OTHER) {
            continue;
        }
        let text = if level3 == OTHER { level2.to_owned() } else { format!("{level2}。{level3}") };
        let hint = Sample::new(text, level1);
        if !hints.contains(&hint) {
            hints.push(hint);
        }
    }
    hints
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_of_known_labels_become_hints() {
        let tree = [
            ("环境保护", "环境污染", "噪音污染"),
            ("环境保护", "环境污染", "其他"),
            ("环境保护", "其他", "其他"),
            ("政法", "社会治安", "治安案件"),
            ("环境保护", "环境污染", "噪音污染"),
        ];
        let hints = category_hints(tree, &["环境保护".to_owned()]);
        assert_eq!(hints, [Sample::new("环境污染。噪音污染", "环境保护"), Sample::new("环境污染", "环境保护")]);
    }
}
