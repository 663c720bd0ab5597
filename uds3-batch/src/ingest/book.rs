//! The ingest's bookkeeping: which documents own which parts, which
//! documents are fully added, and what failed.

use std::collections::{HashMap, HashSet};

use batch_core::ErrorClass;

use crate::ingest::{DocumentVerdict, Part, PartFailure, Store, Verdict, Verdicts};

/// Parts to documents and back, under the ingest's lock.
#[derive(Debug, Default)]
pub(crate) struct Book {
    /// The documents (not yet judged) each part belongs to.
    owners: HashMap<Part, Vec<String>>,
    /// Each document's parts, to forget them once it is judged.
    parts_of: HashMap<String, Vec<Part>>,
    /// Documents whose every part was handed to its batcher, in order.
    ready: Vec<String>,
    ready_set: HashSet<String>,
    /// Failures of parts of documents not judged yet.
    failures: HashMap<String, Vec<PartFailure>>,
}

impl Book {
    /// Records that `document` is made of `parts`, before they are added.
    pub(crate) fn register(&mut self, document: &str, parts: &[Part]) {
        for part in parts {
            let owners = self.owners.entry(part.clone()).or_default();
            if !owners.iter().any(|d| d == document) {
                owners.push(document.to_owned());
            }
        }
        self.parts_of
            .entry(document.to_owned())
            .or_default()
            .extend_from_slice(parts);
    }

    /// Marks `document` as wholly added: the next flush judges it.
    pub(crate) fn ready(&mut self, document: &str) {
        if self.ready_set.insert(document.to_owned()) {
            self.ready.push(document.to_owned());
        }
    }

    /// A part came back failed: every document it belongs to gets the
    /// failure, once.
    pub(crate) fn failed(&mut self, failure: PartFailure) {
        let Some(owners) = self.owners.get(&failure.part) else {
            return;
        };
        for document in owners {
            let failures = self.failures.entry(document.clone()).or_default();
            if !failures.iter().any(|f| f.part == failure.part) {
                failures.push(failure.clone());
            }
        }
    }

    /// A batcher gave up with parts of `store` unresolved, not saying
    /// which: every part in `store` of `documents` that has not failed
    /// already fails with `error`, an unknown outcome, since it may or may
    /// not be stored.
    pub(crate) fn unresolved(&mut self, documents: &[String], store: Store, error: &str) {
        for document in documents {
            let Some(parts) = self.parts_of.get(document) else {
                continue;
            };
            let failures = self.failures.entry(document.clone()).or_default();
            for part in parts.iter().filter(|p| p.store() == store) {
                if !failures.iter().any(|f| &f.part == part) {
                    failures.push(PartFailure {
                        part: part.clone(),
                        error: error.to_owned(),
                        class: Some(ErrorClass::OutcomeUnknown),
                    });
                }
            }
        }
    }

    /// The documents ready now (of those in `only`, if given), for a
    /// flush to judge once it has waited for them.
    pub(crate) fn ready_now(&self, only: Option<&HashSet<String>>) -> Vec<String> {
        match only {
            None => self.ready.clone(),
            Some(only) => self
                .ready
                .iter()
                .filter(|d| only.contains(*d))
                .cloned()
                .collect(),
        }
    }

    /// Judges `documents` (from [`ready_now`](Self::ready_now), before
    /// the flush) and forgets them; documents that became ready since stay.
    pub(crate) fn judge(&mut self, documents: &[String]) -> Verdicts {
        let judged: HashSet<&str> = documents.iter().map(String::as_str).collect();
        self.ready.retain(|d| !judged.contains(d.as_str()));
        let mut verdicts = Verdicts::default();
        for document in documents {
            // Judged already (by a flush on another thread): once only.
            if !self.ready_set.remove(document) {
                continue;
            }
            for part in self.parts_of.remove(document).unwrap_or_default() {
                if let Some(owners) = self.owners.get_mut(&part) {
                    owners.retain(|d| d != document);
                    if owners.is_empty() {
                        self.owners.remove(&part);
                    }
                }
            }
            let verdict = match self.failures.remove(document) {
                Some(failures) if !failures.is_empty() => Verdict::Incomplete(failures),
                _ => Verdict::Complete,
            };
            verdicts.documents.push(DocumentVerdict {
                document_id: document.clone(),
                verdict,
            });
        }
        verdicts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(id: &str) -> Part {
        Part::Chunk { id: id.to_owned() }
    }

    fn failure(part: Part) -> PartFailure {
        PartFailure {
            part,
            error: "down".to_owned(),
            class: None,
        }
    }

    #[test]
    fn a_shared_part_fails_every_owner_once_and_nothing_twice() {
        let mut book = Book::default();
        book.register("a", &[chunk("x"), chunk("a1")]);
        book.register("b", &[chunk("x")]);
        book.ready("a");
        book.ready("b");
        book.ready("a");
        book.failed(failure(chunk("x")));
        book.failed(failure(chunk("x")));
        let ready = book.ready_now(None);
        assert_eq!(ready, ["a", "b"]);
        let verdicts = book.judge(&ready);
        assert_eq!(verdicts.complete(), 0);
        for judged in &verdicts.documents {
            assert_eq!(judged.failures().len(), 1, "{judged:?}");
        }
        assert!(book.owners.is_empty() && book.parts_of.is_empty() && book.failures.is_empty());
    }

    #[test]
    fn a_part_handed_back_keeps_its_error_when_its_store_gave_up() {
        let mut book = Book::default();
        book.register("a", &[chunk("a1"), chunk("a2")]);
        book.ready("a");
        book.failed(failure(chunk("a1")));
        book.unresolved(&book.ready_now(None), Store::Chroma, "gave up");
        let verdicts = book.judge(&book.ready_now(None));
        let errors: Vec<(&Part, &str)> = verdicts.documents[0]
            .failures()
            .iter()
            .map(|f| (&f.part, f.error.as_str()))
            .collect();
        assert_eq!(errors, [(&chunk("a1"), "down"), (&chunk("a2"), "gave up")]);
    }

    #[test]
    fn two_flushes_of_one_snapshot_judge_each_document_once() {
        let mut book = Book::default();
        book.register("a", &[chunk("a1")]);
        book.ready("a");
        let (first, second) = (book.ready_now(None), book.ready_now(None));
        book.failed(failure(chunk("a1")));
        assert_eq!(book.judge(&first).documents.len(), 1);
        assert!(book.judge(&second).documents.is_empty());
    }

    #[test]
    fn documents_ready_after_the_snapshot_wait_for_the_next_flush() {
        let mut book = Book::default();
        book.register("a", &[chunk("a1")]);
        book.ready("a");
        let ready = book.ready_now(None);
        book.register("b", &[chunk("b1")]);
        book.failed(failure(chunk("b1")));
        book.ready("b");
        let first = book.judge(&ready);
        assert_eq!(first.documents.len(), 1);
        assert!(first.all_complete());
        let second = book.judge(&book.ready_now(None));
        assert_eq!(second.documents[0].document_id, "b");
        assert_eq!(second.documents[0].failures().len(), 1, "kept for b");
    }
}
