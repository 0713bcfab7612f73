//! A queue from one thread to another: the loop and its helper threads (fsync, compaction)
//! talk through these.
//!
//! `std::sync::mpsc` would do, but each of its channel types brings the code of all three
//! of its flavours (67 KB of the static binary for the four message types used here, 3% of
//! it); one sender, one receiver and an unbounded queue under a mutex are all these threads
//! need.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

struct State<T> {
    queue: VecDeque<T>,
    /// Whether the other side was dropped.
    closed: bool,
}

struct Shared<T> {
    state: Mutex<State<T>>,
    ready: Condvar,
}

impl<T> Shared<T> {
    fn lock(&self) -> MutexGuard<'_, State<T>> {
        // A thread that panicked aborted the process (panic = "abort"); in tests the state
        // is still a valid queue.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn close(&self) {
        self.lock().closed = true;
        self.ready.notify_one();
    }
}

pub(super) struct Sender<T>(Arc<Shared<T>>);

pub(super) struct Receiver<T>(Arc<Shared<T>>);

/// The other side is gone (and, for a receiver, nothing is left to take).
#[derive(Debug, PartialEq)]
pub(super) struct Closed;

#[derive(Debug, PartialEq)]
pub(super) enum TryRecvError {
    Empty,
    Closed,
}

pub(super) fn channel<T>() -> (Sender<T>, Receiver<T>) {
    let shared = Arc::new(Shared {
        state: Mutex::new(State {
            queue: VecDeque::new(),
            closed: false,
        }),
        ready: Condvar::new(),
    });
    (Sender(shared.clone()), Receiver(shared))
}

impl<T> Sender<T> {
    /// Queues `item`; fails, handing it back, once the receiver is gone.
    pub(super) fn send(&self, item: T) -> Result<(), T> {
        let mut state = self.0.lock();
        if state.closed {
            return Err(item);
        }
        state.queue.push_back(item);
        drop(state);
        self.0.ready.notify_one();
        Ok(())
    }
}

impl<T> Receiver<T> {
    /// The next item, waiting for one; fails once the queue is empty and the sender gone.
    pub(super) fn recv(&self) -> Result<T, Closed> {
        let mut state = self.0.lock();
        loop {
            if let Some(item) = state.queue.pop_front() {
                return Ok(item);
            }
            if state.closed {
                return Err(Closed);
            }
            state = self.0.ready.wait(state).unwrap_or_else(|e| e.into_inner());
        }
    }

    pub(super) fn try_recv(&self) -> Result<T, TryRecvError> {
        let mut state = self.0.lock();
        match state.queue.pop_front() {
            Some(item) => Ok(item),
            None if state.closed => Err(TryRecvError::Closed),
            None => Err(TryRecvError::Empty),
        }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        self.0.close();
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        self.0.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::thread;

    #[test]
    fn items_arrive_in_order_across_threads_then_the_close() {
        let (tx, rx) = channel();
        let t = thread::spawn(move || {
            for i in 0..1000 {
                tx.send(i).unwrap();
            }
        });
        for i in 0..1000 {
            assert_eq!(rx.recv(), Ok(i));
        }
        t.join().unwrap();
        assert_eq!(rx.recv(), Err(Closed));
        assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));
    }

    #[test]
    fn what_was_sent_before_the_close_is_still_received() {
        let (tx, rx) = channel();
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
        tx.send(1).unwrap();
        drop(tx);
        assert_eq!(rx.try_recv(), Ok(1));
        assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));
    }

    #[test]
    fn a_send_fails_once_the_receiver_is_gone() {
        let (tx, rx) = channel();
        drop(rx);
        assert_eq!(tx.send(7), Err(7));
    }

    #[test]
    fn a_waiting_receiver_wakes_when_the_sender_goes() {
        let (tx, rx) = channel::<u8>();
        let t = thread::spawn(move || rx.recv());
        drop(tx);
        assert_eq!(t.join().unwrap(), Err(Closed));
    }
}
