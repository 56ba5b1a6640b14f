//! The HTTP/2 watchdog on paused time: each timer fires when it should, and
//! only then.

use http_body::Body as _;

use super::*;

const LIMITS: Limits = Limits {
    header_read: Duration::from_secs(2),
    idle: Duration::from_secs(10),
    send: Duration::from_secs(3),
    upstream: Duration::from_secs(4),
};

/// Paused time jumps straight to each timer, give or take a tick.
fn took(since: Instant, expected: Duration) {
    let elapsed = since.elapsed();
    assert!(elapsed >= expected && elapsed <= expected + TICK + TICK, "{elapsed:?} for {expected:?}");
}

fn watching(activity: &Arc<Activity>) -> tokio::task::JoinHandle<Expiry> {
    let activity = activity.clone();
    tokio::spawn(async move { activity.watch(LIMITS).await })
}

#[tokio::test(start_paused = true)]
async fn a_connection_without_a_stream_expires_at_header_read() {
    let activity = Activity::new();
    let started = Instant::now();
    assert_eq!(activity.watch(LIMITS).await, Expiry::NoRequest);
    took(started, LIMITS.header_read);
}

#[tokio::test(start_paused = true)]
async fn open_streams_hold_off_the_idle_timer_which_restarts_when_they_end() {
    let activity = Activity::new();
    let guard = activity.stream_started();
    let waiter = watching(&activity);
    tokio::time::sleep(Duration::from_secs(30)).await;
    assert!(!waiter.is_finished(), "expired with a stream open");
    drop(guard);
    let ended = Instant::now();
    assert_eq!(waiter.await.expect("watchdog"), Expiry::Idle);
    took(ended, LIMITS.idle);
}

#[tokio::test(start_paused = true)]
async fn a_header_block_that_starts_no_stream_is_no_activity() {
    let activity = Activity::new();
    drop(activity.stream_started());
    let ended = Instant::now();
    let waiter = watching(&activity);
    // Blocks that h2 refuses keep coming; no stream starts.
    for _ in 0..30 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        activity.on_read(Block::Started);
        activity.on_read(Block::Ended);
        if waiter.is_finished() {
            break;
        }
    }
    assert_eq!(waiter.await.expect("watchdog"), Expiry::Idle);
    took(ended, LIMITS.idle);
}

#[tokio::test(start_paused = true)]
async fn a_header_block_open_too_long_expires_even_with_streams_open() {
    let activity = Activity::new();
    let _guard = activity.stream_started();
    tokio::time::sleep(Duration::from_secs(5)).await;
    activity.on_read(Block::Started);
    let started = Instant::now();
    assert_eq!(activity.watch(LIMITS).await, Expiry::HeaderBlock);
    took(started, LIMITS.header_read);
    // The drain does not wait for streams that cannot finish.
    let started = Instant::now();
    activity.drained(LIMITS).await;
    took(started, GOAWAY_GRACE);
}

#[tokio::test(start_paused = true)]
async fn the_drain_waits_for_open_streams() {
    let activity = Activity::new();
    let guard = activity.stream_started();
    let drained = tokio::spawn({
        let activity = activity.clone();
        async move { activity.drained(LIMITS).await }
    });
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert!(!drained.is_finished());
    drop(guard);
    drained.await.expect("drain");
}

/// With every stream done, what h2 still holds for a peer that answers
/// PINGs is worth waiting for, up to `send_idle` however many PINGs it
/// answers; a peer that answers nothing is closed after the grace.
#[tokio::test(start_paused = true)]
async fn the_drain_gives_a_live_peer_send_idle_and_no_more() {
    let silent = Activity::new();
    let started = Instant::now();
    silent.drained(LIMITS).await;
    took(started, GOAWAY_GRACE);

    let live = Activity::new();
    let started = Instant::now();
    let drained = tokio::spawn({
        let live = live.clone();
        async move { live.drained(LIMITS).await }
    });
    // The shutdown PING is answered, and then every keep-alive one.
    for _ in 0..40 {
        tokio::time::sleep(Duration::from_millis(250)).await;
        live.on_read(Block::PingAck);
        if drained.is_finished() {
            break;
        }
    }
    drained.await.expect("drain");
    took(started, GOAWAY_GRACE + LIMITS.send);
}

fn answering(activity: &Arc<Activity>) -> Arc<Answer> {
    let answer = Arc::new(Answer { progress: Progress::default(), cell: None, stall: Mutex::default() });
    answer.progress.begin(IdleLimits { send: LIMITS.send, upstream: LIMITS.upstream });
    activity.answers.lock().expect("lock").push(Arc::downgrade(&answer));
    activity.wake.notify_one();
    answer
}

#[tokio::test(start_paused = true)]
async fn a_stalled_answer_is_cut_and_its_connection_lives_on() {
    let activity = Activity::new();
    let _guard = activity.stream_started();
    let waiter = watching(&activity);
    let answer = answering(&activity);
    // One frame handed over, then the client's window stays shut.
    let mut body = Tracked::new(
        crate::body::full(bytes::Bytes::from_static(b"x")),
        Answering { answer: answer.clone(), _stream: activity.stream_started() },
    );
    let frame = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx).map(|f| f.is_some())).await;
    assert!(frame);
    let stalled = Instant::now();
    while answer.progress.cut_reason().is_none() {
        tokio::time::sleep(TICK).await;
    }
    took(stalled, LIMITS.send);
    assert_eq!(answer.progress.cut_reason(), Some(End::SendIdle));
    assert!(!waiter.is_finished(), "the whole connection went with one stream");
}

#[tokio::test(start_paused = true)]
async fn a_socket_that_takes_nothing_closes_the_connection() {
    let activity = Activity::new();
    let _guard = activity.stream_started();
    let waiter = watching(&activity);
    let _ = activity.writes.note::<usize>(Poll::Pending);
    activity.wake.notify_one();
    let blocked = Instant::now();
    assert_eq!(waiter.await.expect("watchdog"), Expiry::SendIdle);
    took(blocked, LIMITS.send);
}

#[tokio::test]
async fn large_frames_go_to_h2_in_16_kib_pieces() {
    let activity = Activity::new();
    let answer = answering(&activity);
    let body = crate::body::full(bytes::Bytes::from(vec![7u8; 40 * 1024]));
    let mut tracked = Tracked::new(body, Answering { answer: answer.clone(), _stream: activity.stream_started() });
    let mut sizes = Vec::new();
    while let Some(frame) = std::future::poll_fn(|cx| Pin::new(&mut tracked).poll_frame(cx)).await {
        sizes.push(frame.expect("made bodies do not fail").into_data().expect("data").len());
    }
    assert_eq!(sizes, [16 * 1024, 16 * 1024, 8 * 1024]);
    assert_eq!(answer.progress.sample().1, 3, "each piece is progress");
}
