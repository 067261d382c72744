//! Place-name search that ignores case and Vietnamese diacritics: the
//! folding rule ("Thiên Mụ" → "thien mu", "Đông Ba" → "dong ba") and a word
//! index answering "every query word starts a word of the name".

use std::collections::BTreeMap;
use unicode_normalization::char::is_combining_mark;
use unicode_normalization::UnicodeNormalization;

/// Lower-case, strip diacritics (decompose, drop combining marks) and map
/// `đ` to `d`, which has no decomposition.
pub fn fold(text: &str) -> String {
    text.nfd()
        .filter(|c| !is_combining_mark(*c))
        .flat_map(char::to_lowercase)
        .map(|c| if c == 'đ' { 'd' } else { c })
        .collect()
}

/// The folded words of `text`: runs of letters and digits.
pub fn words(text: &str) -> Vec<String> {
    fold(text)
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect()
}

/// Folded word → the entries whose name holds it (ascending, no repeats).
#[derive(Default)]
pub struct WordIndex {
    words: BTreeMap<String, Vec<u32>>,
}

impl WordIndex {
    pub fn insert(&mut self, entry: u32, name: &str) {
        for word in words(name) {
            let entries = self.words.entry(word).or_default();
            if entries.last() != Some(&entry) {
                entries.push(entry);
            }
        }
    }

    /// Entries with a word starting with each word of `query`, ascending.
    /// An empty query matches nothing.
    pub fn matching(&self, query: &[String]) -> Vec<u32> {
        let mut result: Option<Vec<u32>> = None;
        for word in query {
            let mut found: Vec<u32> = self
                .words
                .range(word.clone()..)
                .take_while(|(indexed, _)| indexed.starts_with(word.as_str()))
                .flat_map(|(_, entries)| entries.iter().copied())
                .collect();
            found.sort_unstable();
            found.dedup();
            result = Some(match result {
                None => found,
                Some(so_far) => intersect(&so_far, &found),
            });
            if result.as_ref().is_some_and(Vec::is_empty) {
                break;
            }
        }
        result.unwrap_or_default()
    }
}

fn intersect(a: &[u32], b: &[u32]) -> Vec<u32> {
    let (mut i, mut j, mut out) = (0, 0, Vec::new());
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                out.push(a[i]);
                i += 1;
                j += 1;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folding_drops_case_and_every_vietnamese_diacritic() {
        assert_eq!(fold("Huế"), "hue");
        assert_eq!(fold("Chùa Thiên Mụ"), "chua thien mu");
        assert_eq!(fold("ĐÔNG BA"), "dong ba");
        assert_eq!(fold("Lăng Tự Đức"), "lang tu duc");
        assert_eq!(fold("Vỹ Dạ, Ưu Đàm"), "vy da, uu dam");
        // Decomposed input folds the same as composed.
        assert_eq!(fold("Hue\u{301}"), fold("Hué"));
    }

    #[test]
    fn every_query_word_must_start_a_word_of_the_name() {
        let mut index = WordIndex::default();
        index.insert(0, "Chùa Thiên Mụ");
        index.insert(1, "Lăng Thiệu Trị");
        index.insert(2, "Chợ Đông Ba");
        assert_eq!(index.matching(&words("thien mu")), vec![0]);
        assert_eq!(index.matching(&words("thi")), vec![0, 1]);
        assert_eq!(index.matching(&words("ĐÔNG")), vec![2]);
        assert_eq!(index.matching(&words("ong")), Vec::<u32>::new());
        assert_eq!(index.matching(&words("")), Vec::<u32>::new());
    }
}
