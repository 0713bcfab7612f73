//! gzip and snappy request bodies (`compress::decompress`) under a size cap. Output never
//! exceeds the cap, and neither does the memory taken to make it (beyond fixed scratch); a
//! cap only decides whether a body fits, never what it decompresses to. A gzip body the
//! gateway writes for scrapes decompresses back to its input.
#![no_main]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use libfuzzer_sys::fuzz_target;
use pushgate::formats::compress::{decompress, Encoding, Error, Gzip};

/// Counts live heap bytes and their peak, to hold decompression to its cap.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let live = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
        PEAK.fetch_max(live, Ordering::Relaxed);
        System.alloc(layout)
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        System.dealloc(ptr, layout)
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// The decompressors' fixed scratch and state (a 64 KiB buffer, miniz_oxide's inflate state
/// and snap's frame buffers), with room to spare: more than this beyond the cap means the
/// output is not capped.
const OVERHEAD: usize = 512 << 10;
/// A cap large enough that no input of the fuzzer's sizes decompresses past it in
/// reasonable time, yet small enough for an iteration: the reference result.
const LARGE: usize = 16 << 20;

fn capped(encoding: Encoding, body: &[u8], limit: usize) -> Result<Vec<u8>, Error> {
    let before = LIVE.load(Ordering::Relaxed);
    PEAK.store(before, Ordering::Relaxed);
    let out = decompress(encoding, body, limit).map(|b| b.into_owned());
    let peak = PEAK.load(Ordering::Relaxed) - before;
    assert!(
        peak <= limit + OVERHEAD,
        "took {peak} bytes of memory under a cap of {limit}"
    );
    if let Ok(out) = &out {
        assert!(
            out.len() <= limit,
            "{} bytes out under a cap of {limit}",
            out.len()
        );
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let Some((head, body)) = data.split_first_chunk::<3>() else {
        return;
    };
    let encoding = match head[0] % 3 {
        0 => Encoding::Gzip,
        1 => Encoding::Snappy,
        _ => {
            let mut gz = Gzip::default();
            let mut out = Vec::new();
            let half = body.len() / 2;
            gz.write(&body[..half], &mut out, false);
            gz.write(&body[half..], &mut out, true);
            let back = decompress(Encoding::Gzip, &out, body.len())
                .unwrap_or_else(|e| panic!("our own gzip does not decompress: {e}"));
            assert_eq!(&back[..], body);
            return;
        }
    };
    let limit = usize::from(u16::from_le_bytes([head[1], head[2]]));
    let reference = capped(encoding, body, LARGE);
    let result = capped(encoding, body, limit);
    match (&reference, &result) {
        (Ok(full), Ok(out)) => assert_eq!(full, out),
        (Ok(full), Err(Error::TooLarge { .. })) => assert!(full.len() > limit),
        (Err(Error::Corrupt { .. }), Err(_)) => {}
        // Past the large cap the cap may decide either way, but never corrupt data into
        // a result.
        (Err(Error::TooLarge { .. }), _) => {}
        _ => panic!("cap {limit}: {result:?} where a larger cap gives {reference:?}"),
    }
});
