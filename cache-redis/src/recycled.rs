//! Recycled allocations for the futures of hot reads.
//!
//! A backend's `get` returns a boxed future (the cache holds its backend as a trait object), and
//! fred's `GET` future alone is about 5 KB. glibc's malloc serves a block that size from its
//! arenas under a lock, not from its lock-free per-thread cache (blocks up to 1 KB): with
//! 64 tasks on two workers, a block allocated on one worker and freed on the other made the
//! two wait on each other's arena locks (`futex` calls: about 0.4 more per hit than raw fred,
//! and the 64-task hit fell to 0.84× raw fred's throughput). A [`Recycled`] future lives in a
//! block that its thread keeps for the next one instead of freeing it: after warm-up a hit
//! allocates 8 bytes (the box of the handle) and takes no lock.
//!
//! Written by hand: pools in well-kept crates hold `'static` values of one type, and this
//! future borrows the backend and the key; tokio-util's `ReusableBoxFuture` reuses one box
//! that its owner keeps, where here no caller keeps anything between reads.

use std::alloc::{Layout, alloc, dealloc, handle_alloc_error};
use std::cell::RefCell;
use std::future::Future;
use std::mem::MaybeUninit;
use std::pin::Pin;
use std::ptr::NonNull;
use std::task::{Context, Poll};

/// Blocks a thread keeps at most: enough for the reads one worker has in flight under heavy
/// concurrency (5 KB a block, 6.9 KB with TLS compiled: at most ~220 KB per thread); a block
/// freed beyond that goes back to the allocator.
const KEEP: usize = 32;

/// A thread's free blocks, by layout (one layout per recycled future type, so this stays
/// short); freed with the thread.
struct FreeBlocks(Vec<(Layout, NonNull<u8>)>);

impl FreeBlocks {
    fn take(&mut self, layout: Layout) -> Option<NonNull<u8>> {
        let at = self.0.iter().rposition(|(kept, _)| *kept == layout)?;
        Some(self.0.swap_remove(at).1)
    }

    /// Keeps `block` unless the thread holds enough; whether it did.
    fn keep(&mut self, layout: Layout, block: NonNull<u8>) -> bool {
        let kept = self.0.len() < KEEP;
        if kept {
            self.0.push((layout, block));
        }
        kept
    }
}

impl Drop for FreeBlocks {
    fn drop(&mut self) {
        for (layout, block) in self.0.drain(..) {
            // SAFETY: every kept block was allocated with its layout and holds no value.
            unsafe { dealloc(block.as_ptr(), layout) };
        }
    }
}

thread_local! {
    static FREE: RefCell<FreeBlocks> = const { RefCell::new(FreeBlocks(Vec::new())) };
}

/// A future in a block its thread recycles (see the module docs). It never moves once built,
/// so it is polled pinned in place; dropping it drops the future and keeps the block.
pub(crate) struct Recycled<F> {
    future: NonNull<F>,
}

// SAFETY: a `Recycled<F>` owns its `F` as a `Box<F>` would; the block is plain memory, valid
// on any thread.
unsafe impl<F: Send> Send for Recycled<F> {}

impl<F> Recycled<F> {
    /// The future `make` returns, built in a recycled block (or a new one). `make` is called
    /// with the block ready, so the future is written straight into it: an `#[inline(always)]`
    /// `async fn` writes only its arguments, where a future built first and moved in was
    /// copied whole (5 KB on every read).
    #[inline(always)]
    pub(crate) fn new(make: impl FnOnce() -> F) -> Self {
        let layout = Layout::new::<F>();
        let block = if layout.size() == 0 {
            // Aligned for `F`: a zero-sized value still needs an aligned address.
            NonNull::<F>::dangling().cast::<u8>()
        } else {
            let reused = FREE
                .try_with(|free| free.borrow_mut().take(layout))
                .ok()
                .flatten();
            // SAFETY: `layout` has a non-zero size.
            reused.unwrap_or_else(|| {
                NonNull::new(unsafe { alloc(layout) }).unwrap_or_else(|| handle_alloc_error(layout))
            })
        };
        let future = block.cast::<F>();
        // SAFETY: the block is valid for writes of an `F` (its layout) and holds no value.
        unsafe { future.cast::<MaybeUninit<F>>().as_mut() }.write(make());
        Recycled { future }
    }
}

impl<F> Drop for Recycled<F> {
    fn drop(&mut self) {
        // SAFETY: the future was written in `new` and is dropped only here.
        unsafe { std::ptr::drop_in_place(self.future.as_ptr()) };
        let layout = Layout::new::<F>();
        if layout.size() == 0 {
            return;
        }
        let block = self.future.cast::<u8>();
        let kept = FREE
            .try_with(|free| free.borrow_mut().keep(layout, block))
            .unwrap_or(false); // the thread is exiting
        if !kept {
            // SAFETY: allocated with `layout` (here or by another thread's `new`).
            unsafe { dealloc(block.as_ptr(), layout) };
        }
    }
}

impl<F: Future> Future for Recycled<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        // SAFETY: the future never moves out of its block until it is dropped there.
        unsafe { Pin::new_unchecked(self.get_mut().future.as_mut()) }.poll(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A future that counts its drops and answers `value` on its first poll.
    struct Counted {
        value: u64,
        drops: Arc<AtomicUsize>,
        _room: [u8; 4096],
    }

    impl Future for Counted {
        type Output = u64;
        fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<u64> {
            Poll::Ready(self.value)
        }
    }

    impl Drop for Counted {
        fn drop(&mut self) {
            self.drops.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn counted(value: u64, drops: &Arc<AtomicUsize>) -> Counted {
        Counted {
            value,
            drops: drops.clone(),
            _room: [0; 4096],
        }
    }

    #[tokio::test]
    async fn answers_and_drops_its_future_once() {
        let drops = Arc::new(AtomicUsize::new(0));
        assert_eq!(Recycled::new(|| counted(7, &drops)).await, 7);
        assert_eq!(drops.load(Ordering::SeqCst), 1);
        drop(Recycled::new(|| counted(8, &drops))); // never polled
        assert_eq!(drops.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn a_thread_reuses_the_block_it_freed() {
        let drops = Arc::new(AtomicUsize::new(0));
        let first = Recycled::new(|| counted(1, &drops));
        let block = first.future.cast::<u8>();
        drop(first);
        let second = Recycled::new(|| counted(2, &drops));
        assert_eq!(second.future.cast::<u8>(), block);
    }

    #[test]
    fn a_thread_keeps_a_bounded_number_of_blocks() {
        let drops = Arc::new(AtomicUsize::new(0));
        let many: Vec<_> = (0..KEEP as u64 * 2)
            .map(|i| Recycled::new(|| counted(i, &drops)))
            .collect();
        drop(many);
        let kept = FREE.with(|free| free.borrow().0.len());
        assert_eq!(kept, KEEP);
        assert_eq!(drops.load(Ordering::SeqCst), KEEP * 2);
    }

    #[test]
    fn a_future_dropped_on_another_thread_frees_its_block_there() {
        let drops = Arc::new(AtomicUsize::new(0));
        let future = Recycled::new(|| counted(3, &drops));
        let kept = std::thread::spawn(move || {
            drop(future);
            FREE.with(|free| free.borrow().0.len())
        })
        .join()
        .expect("the thread ran");
        assert_eq!(kept, 1);
        assert_eq!(drops.load(Ordering::SeqCst), 1);
    }

    /// A zero-sized future that needs an aligned address all the same.
    #[repr(align(64))]
    struct Done;

    impl Future for Done {
        type Output = u8;
        fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<u8> {
            Poll::Ready(9)
        }
    }

    #[tokio::test]
    async fn zero_sized_futures_need_no_block() {
        let kept = || FREE.with(|free| free.borrow().0.len());
        let before = kept();
        assert_eq!(Recycled::new(|| Done).await, 9);
        assert_eq!(kept(), before);
    }
}
