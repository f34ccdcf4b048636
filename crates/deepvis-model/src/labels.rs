//! ImageNet class names.

/// The 1000 ILSVRC-2012 class names, index = class.
#[derive(Clone, Debug)]
pub struct Labels {
    names: Vec<String>,
}

const IMAGENET: &str = include_str!("../../../assets/imagenet1k_labels.txt");

impl Labels {
    /// The ImageNet-1k labels shipped with deepvis.
    pub fn imagenet() -> Labels {
        Labels::parse(IMAGENET)
    }

    /// Parses `nXXXXXXXX name` lines (or plain names), one class a line.
    pub fn parse(text: &str) -> Labels {
        let names = text
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| {
                let l = l.trim();
                match l.split_once(' ') {
                    Some((id, rest))
                        if id.len() == 9
                            && id.starts_with('n')
                            && id[1..].chars().all(|c| c.is_ascii_digit()) =>
                    {
                        rest.trim().to_string()
                    }
                    _ => l.to_string(),
                }
            })
            .collect();
        Labels { names }
    }

    /// The name of class `i`, or `class i` when there is none.
    pub fn name(&self, i: usize) -> String {
        self.names
            .get(i)
            .cloned()
            .unwrap_or_else(|| format!("class {i}"))
    }

    /// How many names there are.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn imagenet_labels_are_the_usual_ones() {
        let l = Labels::imagenet();
        assert_eq!(l.len(), 1000);
        assert_eq!(l.name(0), "tench");
        assert_eq!(l.name(130), "flamingo");
        assert_eq!(l.name(207), "golden retriever");
        assert_eq!(l.name(5000), "class 5000");
    }
}
