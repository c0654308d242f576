//! Stages: the instructions between FROMs, the global ARGs before the first,
//! which stages depend on which (FROM <stage>, COPY --from, RUN --mount from=),
//! and which the target needs.

use super::dockerfile::{err, Dockerfile, Instruction, ParseError, Pos};
use std::collections::BTreeSet;

#[derive(Debug, Clone)]
pub struct Stage {
    pub index: usize,
    /// `AS name`, lower-cased.
    pub name: Option<String>,
    pub from: Instruction,
    /// The image as written (before ARG expansion).
    pub base: String,
    pub instructions: Vec<Instruction>,
    /// The names this stage's FROM (first) and its `--from`s refer to, ARGs
    /// expanded once the executor knows their values ([`Plan::set_refs`]);
    /// as written until then.
    pub refs: Vec<String>,
}

impl Stage {
    /// How progress names the stage.
    pub fn label(&self) -> String {
        self.name
            .clone()
            .unwrap_or_else(|| format!("stage-{}", self.index))
    }
}

#[derive(Debug, Clone)]
pub struct Plan {
    /// ARG instructions before the first FROM.
    pub meta_args: Vec<Instruction>,
    pub stages: Vec<Stage>,
}

pub fn split(df: &Dockerfile) -> Result<Plan, ParseError> {
    let mut meta_args = Vec::new();
    let mut stages: Vec<Stage> = Vec::new();
    for ins in &df.instructions {
        if ins.keyword == "FROM" {
            ins.check_flags(&["platform"])?;
            let words: Vec<&str> = ins.args.split_whitespace().collect();
            let (base, name) = match words.as_slice() {
                [b] => (b.to_string(), None),
                [b, as_, n] if as_.eq_ignore_ascii_case("as") => {
                    let n = n.to_ascii_lowercase();
                    let valid = n.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
                        && n.chars()
                            .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c));
                    if !valid {
                        return Err(err(ins.pos, format!("invalid name for build stage: {n:?}")));
                    }
                    if stages.iter().any(|s| s.name.as_deref() == Some(&n)) {
                        return Err(err(
                            ins.pos,
                            format!("duplicate name for build stage: {n:?}"),
                        ));
                    }
                    (b.to_string(), Some(n))
                }
                _ => {
                    return Err(err(
                        ins.pos,
                        "FROM requires one argument: an image, then optionally AS <name>",
                    ))
                }
            };
            stages.push(Stage {
                index: stages.len(),
                name,
                from: ins.clone(),
                refs: vec![base.clone()],
                base,
                instructions: Vec::new(),
            });
            continue;
        }
        match stages.last_mut() {
            Some(s) => {
                s.refs.extend(ins.source_refs());
                s.instructions.push(ins.clone())
            }
            None if ins.keyword == "ARG" => meta_args.push(ins.clone()),
            None => {
                return Err(err(
                    ins.pos,
                    format!(
                        "{} before the first FROM: only ARG may come before FROM",
                        ins.keyword
                    ),
                ))
            }
        }
    }
    if stages.is_empty() {
        return Err(err(
            Pos { line: 1, col: 1 },
            "the Dockerfile has no FROM instruction",
        ));
    }
    Ok(Plan { meta_args, stages })
}

impl Plan {
    /// The stage a `--from`/FROM name refers to among those before `before`:
    /// a stage name, or a stage index.
    pub fn lookup(&self, name: &str, before: usize) -> Option<usize> {
        let lower = name.to_ascii_lowercase();
        if let Some(s) = self.stages[..before]
            .iter()
            .find(|s| s.name.as_deref() == Some(&lower))
        {
            return Some(s.index);
        }
        match name.parse::<usize>() {
            Ok(i) if i < before => Some(i),
            _ => None,
        }
    }

    /// The target stage: by name, else the last.
    pub fn target(&self, target: Option<&str>) -> Result<usize, String> {
        match target {
            None => Ok(self.stages.len() - 1),
            Some(t) => self
                .stages
                .iter()
                .find(|s| s.name.as_deref() == Some(&t.to_ascii_lowercase()))
                .map(|s| s.index)
                .ok_or_else(|| format!("target stage {t:?} could not be found")),
        }
    }

    /// The names stage `i` refers to, after ARG expansion: its base, then its `--from`s.
    pub fn set_refs(&mut self, i: usize, refs: Vec<String>) {
        self.stages[i].refs = refs;
    }

    /// Stages a stage refers to (FROM <stage>, COPY --from, RUN --mount from=),
    /// by its names with ARGs expanded; other names are images.
    pub fn deps(&self, i: usize) -> BTreeSet<usize> {
        self.stages[i]
            .refs
            .iter()
            .filter_map(|r| self.lookup(r, i))
            .collect()
    }

    /// Every stage the target needs, in index order (stages it does not need are skipped).
    pub fn needed(&self, target: usize) -> Vec<usize> {
        let mut need = BTreeSet::new();
        let mut todo = vec![target];
        while let Some(i) = todo.pop() {
            if need.insert(i) {
                todo.extend(self.deps(i));
            }
        }
        need.into_iter().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::build::dockerfile::parse;

    #[test]
    fn stages_and_pruning() {
        let df = parse(
            "ARG V=1\nFROM busybox AS a\nRUN x\nFROM busybox AS unused\nRUN y\nFROM a AS b\nCOPY --from=0 /x /y\nFROM scratch\nCOPY --from=b /y /z\n",
        )
        .unwrap();
        let p = split(&df).unwrap();
        assert_eq!(p.meta_args.len(), 1);
        assert_eq!(p.stages.len(), 4);
        let t = p.target(None).unwrap();
        assert_eq!(p.needed(t), vec![0, 2, 3]);
        assert_eq!(p.needed(p.target(Some("unused")).unwrap()), vec![1]);
        assert!(p.target(Some("nope")).is_err());
        assert!(split(&parse("RUN x\n").unwrap()).is_err());
        assert!(split(&parse("FROM a AS x\nFROM b AS x\n").unwrap()).is_err());
    }
}
