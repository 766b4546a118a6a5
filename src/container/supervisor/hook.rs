//! A panic hook for one thread of one process, armed while its guard
//! lives: what must still happen on a panic when a release build aborts
//! and no destructor runs (a terminal put back, a note written). The hook
//! found before runs after it; other threads, and forked children (they
//! inherit the hook, not the pid), are left alone. Never panics itself.

use std::panic::PanicHookInfo;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// The hook runs while this lives.
pub struct Armed {
    armed: Arc<AtomicBool>,
}

impl Drop for Armed {
    fn drop(&mut self) {
        self.armed.store(false, Ordering::SeqCst);
    }
}

/// Installs `action` for panics of this thread of this process, before
/// the hook found before; disarmed (not removed: a hook installed later
/// chains to it) when the guard goes.
pub fn on_panic(action: impl Fn(&PanicHookInfo) + Send + Sync + 'static) -> Armed {
    let me = std::process::id();
    let thread = std::thread::current().id();
    let armed = Arc::new(AtomicBool::new(true));
    let live = armed.clone();
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if live.load(Ordering::SeqCst)
            && std::process::id() == me
            && std::thread::current().id() == thread
        {
            action(info);
        }
        previous(info);
    }));
    Armed { armed }
}
