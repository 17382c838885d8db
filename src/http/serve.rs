//! The server loop: accepts at most `max_connections` clients (above it the listener waits, so
//! descriptors never run out), closes a connection whose request head arrives too slowly or that
//! sits idle too long, and shuts down gracefully. With TLS, the handshake happens on the
//! connection's own task, holding its slot, within the header-read timeout.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper::server::conn::http1::Builder;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, watch};
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt as _;

use super::tls::ClientCertificate;

/// Connection-level limits.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    /// Time to send a whole request head, from its first byte (or from the connect).
    pub header_read_timeout: Duration,
    /// Time a keep-alive connection may wait between requests.
    pub idle_timeout: Duration,
    /// Open connections at most.
    pub max_connections: usize,
    /// The HTTP library's own header-count limit: above the gateway's, so the gateway answers
    /// first with problem+json.
    pub library_max_headers: usize,
    /// The HTTP library's read buffer: above the gateway's head limits, for the same reason.
    pub library_max_buf_size: usize,
}

/// Serves `router` on `listener` (over TLS when `tls` is given: HTTPS only) until `shutdown`
/// resolves, then stops accepting, lets every open connection finish its request in hand, and
/// returns once all are closed.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    tls: Option<TlsAcceptor>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let (stop, stopping) = watch::channel(false);
    let (alive, alive_watch) = watch::channel(());
    let mut builder = Builder::new();
    // The header-read timeout is the watchdog's (below), not the library's: the library's also
    // counts the idle time between keep-alive requests.
    builder
        .header_read_timeout(None)
        .max_headers(limits.library_max_headers)
        .max_buf_size(limits.library_max_buf_size);
    let builder = Arc::new(builder);
    tokio::pin!(shutdown);
    loop {
        // INVARIANT: a slot is taken before accepting, so at most `max_connections` sockets are
        // open; the rest wait in the kernel's backlog.
        let slot = tokio::select! {
            slot = Arc::clone(&slots).acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    pause_after_accept_error(&error).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let connection = Connection {
            builder: Arc::clone(&builder),
            router: router.clone(),
            limits,
            peer,
            stopping: stopping.clone(),
            _alive: alive.subscribe(),
            _slot: slot,
        };
        tokio::spawn(connection.start(stream, tls.clone()));
    }
    drop(listener);
    let _ = stop.send(true);
    drop(alive_watch);
    // Every connection holds a receiver; this resolves when the last one has closed.
    alive.closed().await;
}

/// Descriptors the gateway needs besides client connections: database pool, files, listener.
const DESCRIPTORS_BESIDES_CLIENTS: u64 = 64;

/// Warns when `max_connections` could run the process out of descriptors (Linux: read from
/// `/proc/self/limits`; elsewhere nothing is checked).
pub fn warn_if_above_descriptor_limit(max_connections: usize) {
    let Ok(limits) = std::fs::read_to_string("/proc/self/limits") else {
        return;
    };
    let soft = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| l.split_whitespace().nth(3))
        .and_then(|v| v.parse::<u64>().ok());
    if let Some(soft) = soft
        && (max_connections as u64).saturating_add(DESCRIPTORS_BESIDES_CLIENTS) > soft
    {
        tracing::warn!(
            max_connections,
            open_file_limit = soft,
            "config key `http.max_connections` is close to or above the open-file limit; lower it or raise `ulimit -n`"
        );
    }
}

/// A failed accept that is about one client (reset before accept) is skipped; any other
/// (out of descriptors) pauses briefly rather than spinning.
async fn pause_after_accept_error(error: &io::Error) {
    use io::ErrorKind as K;
    if matches!(
        error.kind(),
        K::ConnectionAborted | K::ConnectionReset | K::ConnectionRefused | K::Interrupted
    ) {
        return;
    }
    tracing::warn!(%error, "cannot accept a connection; pausing the listener for 100 ms");
    tokio::time::sleep(Duration::from_millis(100)).await;
}

struct Connection {
    builder: Arc<Builder>,
    router: Router,
    limits: ConnectionLimits,
    /// The client's address, given to every request of the connection (per-client limits).
    peer: SocketAddr,
    stopping: watch::Receiver<bool>,
    _alive: watch::Receiver<()>,
    _slot: OwnedSemaphorePermit,
}

impl Connection {
    /// Runs the TLS handshake first when configured. A client that does not finish it within
    /// the header-read timeout, or fails it (plain HTTP, an unverifiable certificate), is
    /// dropped: the connection has no HTTP to answer in.
    async fn start(self, stream: TcpStream, tls: Option<TlsAcceptor>) {
        let Some(acceptor) = tls else {
            return self.run(stream, None).await;
        };
        match tokio::time::timeout(self.limits.header_read_timeout, acceptor.accept(stream)).await {
            Ok(Ok(stream)) => {
                let certificate = stream
                    .get_ref()
                    .1
                    .peer_certificates()
                    .and_then(<[_]>::first)
                    .map(|leaf| ClientCertificate::from_der(leaf));
                self.run(stream, certificate).await;
            }
            Ok(Err(error)) => tracing::debug!(%error, "TLS handshake failed"),
            Err(_) => tracing::debug!("closing a connection whose TLS handshake took too long"),
        }
    }

    async fn run<S>(mut self, stream: S, certificate: Option<ClientCertificate>)
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let activity = Arc::new(Activity::new());
        let io = TokioIo::new(Watched {
            inner: stream,
            activity: Arc::clone(&activity),
        });
        let service = {
            let activity = Arc::clone(&activity);
            let router = self.router.clone();
            let peer = ConnectInfo(self.peer);
            hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
                let in_request = InRequest::start(&activity);
                let router = router.clone();
                request.extensions_mut().insert(peer);
                // The verified client certificate travels with every request of its connection.
                if let Some(certificate) = &certificate {
                    request.extensions_mut().insert(certificate.clone());
                }
                async move {
                    let response = router.oneshot(request).await;
                    drop(in_request);
                    response
                }
            })
        };
        let connection = self.builder.serve_connection(io, service);
        tokio::pin!(connection);
        let mut shutting_down = false;
        loop {
            if !shutting_down && *self.stopping.borrow() {
                shutting_down = true;
                connection.as_mut().graceful_shutdown();
            }
            // With a request in flight there is no deadline: look again after a while.
            let wake = activity
                .deadline(&self.limits)
                .unwrap_or_else(|| Instant::now() + self.limits.header_read_timeout);
            tokio::select! {
                served = connection.as_mut() => {
                    if let Err(error) = served {
                        tracing::debug!(%error, "connection ended with an error");
                    }
                    return;
                }
                changed = self.stopping.changed(), if !shutting_down => {
                    if changed.is_err() {
                        shutting_down = true;
                        connection.as_mut().graceful_shutdown();
                    }
                }
                () = activity.request_ended.notified() => {}
                () = tokio::time::sleep_until(wake) => {
                    if activity.deadline(&self.limits).is_some_and(|d| d <= Instant::now()) {
                        tracing::debug!("closing a connection past its header-read or idle timeout");
                        return;
                    }
                }
            }
        }
    }
}

/// What a connection is doing, for its timeouts.
struct Activity {
    state: Mutex<State>,
    /// Wakes the watchdog when a request ends, so the idle clock starts then.
    request_ended: Notify,
}

struct State {
    in_flight: usize,
    served: u64,
    /// When the first byte of the next request head arrived, while none is in flight.
    head_started: Option<Instant>,
    last_activity: Instant,
}

impl Activity {
    fn new() -> Self {
        Self {
            state: Mutex::new(State {
                in_flight: 0,
                served: 0,
                head_started: None,
                last_activity: Instant::now(),
            }),
            request_ended: Notify::new(),
        }
    }

    fn with<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&mut state)
    }

    fn read(&self) {
        self.with(|s| {
            let now = Instant::now();
            if s.in_flight == 0 && s.head_started.is_none() {
                s.head_started = Some(now);
            }
            s.last_activity = now;
        });
    }

    fn wrote(&self) {
        self.with(|s| s.last_activity = Instant::now());
    }

    /// When the connection is to be closed; `None` while a request is being handled (its own
    /// deadline applies).
    fn deadline(&self, limits: &ConnectionLimits) -> Option<Instant> {
        self.with(|s| {
            if s.in_flight > 0 {
                None
            } else if let Some(started) = s.head_started {
                Some(started + limits.header_read_timeout)
            } else if s.served == 0 {
                Some(s.last_activity + limits.header_read_timeout)
            } else {
                Some(s.last_activity + limits.idle_timeout)
            }
        })
    }
}

/// Marks a request in flight for as long as it lives (a cancelled request ends it too).
struct InRequest(Arc<Activity>);

impl InRequest {
    fn start(activity: &Arc<Activity>) -> Self {
        activity.with(|s| {
            s.in_flight += 1;
            s.head_started = None;
        });
        Self(Arc::clone(activity))
    }
}

impl Drop for InRequest {
    fn drop(&mut self) {
        self.0.with(|s| {
            s.in_flight = s.in_flight.saturating_sub(1);
            s.served += 1;
            s.last_activity = Instant::now();
        });
        // A stored permit if the watchdog is not waiting: it looks again on its next turn.
        self.0.request_ended.notify_one();
    }
}

/// The socket (or TLS stream), telling the connection's `Activity` about every byte read or
/// written.
struct Watched<S> {
    inner: S,
    activity: Arc<Activity>,
}

impl<S: AsyncRead + Unpin> AsyncRead for Watched<S> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            this.activity.read();
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Watched<S> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_write(cx, data);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            this.activity.wrote();
        }
        polled
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_write_vectored(cx, data);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            this.activity.wrote();
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}
