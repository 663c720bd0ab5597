//! `inserter!`: declares a backend's inserter type, a newtype over
//! `Batcher<Sink>` that dereferences to it.
//!
//! Why a macro: a backend crate cannot add inherent methods to batch-core's
//! `Batcher`, and UDS3 v2.2's names (`ChromaBatchInserter::add(id, vector,
//! metadata)`, `CouchDBBatchInserter::add(doc, doc_id)`, ...) need a type of
//! their own. The newtype, its `Deref` and the two UDS3 constructors are the
//! same for every backend, so they are written once, here; every method of
//! the batcher (`flush`, `flush_timeout`, `close`, `stats`, `get_stats`,
//! `set_failure_handler`, and whatever batch-core adds later) is the
//! inserter's too, with no per-backend copy.
//!
//! # Why `Deref` to the batcher (decided in issue 32)
//! Rust's API guidelines (C-DEREF) keep `Deref` for smart pointers; an
//! inserter is not one. It is kept all the same, after weighing the two
//! alternatives:
//! - **Forwarding methods generated here** would be a second list of the
//!   batcher's API (sync and async, `flush`, `close`, `add_many`,
//!   `stats`, `timings`, ...) that every new batcher method must be added
//!   to, or the inserters silently lack it; a backend's own `add` (UDS3's
//!   argument lists) still has to shadow `Batcher::add` either way.
//! - **A trait** (`Inserter` with provided methods) needs an import at
//!   every call site and a trait object or a generic where users now
//!   name one concrete type; UDS3's users expect `inserter.flush()` to
//!   just work.
//!
//! What `Deref` costs is method resolution by shadowing: an inserter's
//! own `add` hides the batcher's `add` of the raw item. Code that means
//! the [`Batcher`](crate::Batcher) itself can say so with the generated
//! `batcher()` accessor rather than rely on auto-deref.

/// Declares a backend inserter: the struct (a `batcher` field plus the
/// given fields), `Deref<Target = Batcher<Sink>>`, and, with `env(ENV);`
/// and the backend's `fn with_settings(target: Target, settings) ->
/// Result<Self, Error> { ... }`, the three UDS3 v2.2 constructors:
/// `with_settings`, `new(target, batch_size)` and `from_env(target)`.
/// With `many { fn add_many, add_many_async(items: Item) -> Failed; }`,
/// the batcher's `add_many` and its async twin under those names (the
/// inserter's own, so that they show in its docs with its item type).
///
/// ```
/// use batch_core::{Batcher, ConfigError, ErrorClass, ItemOutcome, Sink, SinkError};
///
/// #[derive(Debug, thiserror::Error)]
/// #[error("never fails")]
/// pub struct NoError;
/// impl SinkError for NoError {
///     fn class(&self) -> ErrorClass { ErrorClass::Permanent }
/// }
///
/// /// A sink that accepts everything.
/// pub struct Accept;
/// impl Sink for Accept {
///     type Item = u32;
///     type Error = NoError;
///     fn write_batch(&mut self, items: &[u32]) -> Result<Vec<ItemOutcome<NoError>>, NoError> {
///         Ok(items.iter().map(|_| ItemOutcome::Written).collect())
///     }
/// }
///
/// batch_core::inserter! {
///     /// Writes numbers.
///     #[derive(Debug)]
///     pub struct NumberInserter(Batcher<Accept>) {}
///     env(batch_core::env::CHROMA);
///     /// The full constructor, which `new` and `from_env` call.
///     fn with_settings(_target: (), settings) -> Result<Self, ConfigError> {
///         let batcher = Batcher::new(Accept, settings).expect("a thread");
///         Ok(Self { batcher })
///     }
/// }
///
/// let inserter = NumberInserter::new((), 10)?;
/// inserter.add(7).map_err(|f| f.error)?; // Batcher::add, through Deref
/// inserter.batcher().add(8).map_err(|f| f.error)?; // the same, named
/// assert_eq!(inserter.flush().written, 2);
/// assert_eq!(inserter.settings().name, "chroma");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[macro_export]
macro_rules! inserter {
    (
        $(#[$attr:meta])*
        $vis:vis struct $name:ident $(<$g:ident : $bound:path>)? ($batcher:ty) {
            $( $(#[$fattr:meta])* $field:ident : $fty:ty ),* $(,)?
        }
        $(
            env($env:path);
            $(#[$wattr:meta])*
            fn with_settings($t:ident : $target:ty, $s:ident) -> Result<Self, $err:ty> $body:block
        )?
        $(
            many {
                $(#[$mattr:meta])*
                fn $many:ident, $many_async:ident ($items:ident : $item:ty) -> $failed:ty;
            }
        )?
    ) => {
        $(#[$attr])*
        $vis struct $name $(<$g: $bound>)? {
            batcher: $batcher,
            $( $(#[$fattr])* $field: $fty, )*
        }

        impl $(<$g: $bound>)? ::std::ops::Deref for $name $(<$g>)? {
            type Target = $batcher;

            fn deref(&self) -> &$batcher {
                &self.batcher
            }
        }

        impl $(<$g: $bound>)? $name $(<$g>)? {
            /// The batcher this inserter writes through: every batcher
            /// method, named explicitly (the inserter's own `add` hides
            /// the batcher's `add` of the raw item).
            pub fn batcher(&self) -> &$batcher {
                &self.batcher
            }
        }

        $(
        impl $name {
            $(#[$wattr])*
            pub fn with_settings(
                $t: $target,
                $s: $crate::BatcherSettings,
            ) -> Result<Self, $err> $body

            #[doc = concat!(
                "UDS3 v2.2's `", stringify!($name), "(backend, batch_size)`: `batch_size` ",
                "items per batch (at least 1), every other setting at its default."
            )]
            pub fn new(target: $target, batch_size: usize) -> Result<Self, $err> {
                Self::with_settings(target, $crate::BatcherSettings::for_backend(&$env, batch_size)?)
            }

            #[doc = concat!(
                "The batch size from the environment (`", stringify!($env), "`: a bad value ",
                "is an error naming the variable), every other setting at its default."
            )]
            pub fn from_env(target: $target) -> Result<Self, $err> {
                Self::with_settings(target, $crate::BatcherSettings::from_env(&$env)?.build()?)
            }
        }
        )?

        $(
        impl $name {
            /// Buffers many items at once, in order (e.g. every chunk of a
            /// document): batch-core's [`add_many`]($crate::Batcher::add_many),
            /// one lock of the buffer for all of them and, under a durable
            /// buffer, one append and one sync, where single adds in a loop
            /// pay that per item. Batches are cut as single adds cut them.
            ///
            /// # Errors
            /// The items a single add would refuse, each with its index in
            /// the input and the same error; every other item is accepted.
            $(#[$mattr])*
            pub fn $many(
                &self,
                $items: impl IntoIterator<Item = $item>,
            ) -> ::std::result::Result<(), $failed> {
                self.batcher.add_many($items)
            }

            #[doc = concat!(
                "[`", stringify!($many), "`](Self::", stringify!($many), ") for async code: ",
                "waits for room in the buffer without blocking the thread ",
                "(batch-core's `add_many_async`). The items are taken at the call; ",
                "the future is `Send`."
            )]
            pub fn $many_async(
                &self,
                $items: impl IntoIterator<Item = $item>,
            ) -> impl ::std::future::Future<Output = ::std::result::Result<(), $failed>> + Send + '_ {
                self.batcher.add_many_async($items)
            }
        }
        )?
    };
}
