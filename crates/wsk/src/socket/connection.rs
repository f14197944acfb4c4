//! Connection-oriented sockets (`WSK_PROVIDER_CONNECTION_DISPATCH`) over host TCP.
//!
//! Data moves only when someone wants it. Pending `WskReceive` operations take
//! precedence and are filled straight from the host socket (no intermediate copy);
//! with none pending and `WskReceiveEvent` enabled, the reactor reads into pooled
//! buffers and indicates them; with neither, data stays in the host's receive queue
//! and TCP flow control holds the peer. Sends complete once the host took all their
//! bytes; queued sends are written in order, batched into one `writev` where possible.

use std::collections::VecDeque;
use std::io::{self, IoSlice};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use wsk_core::backend::{Readiness, TcpStream};
use wsk_core::consts::events::{WSK_EVENT_DISCONNECT, WSK_EVENT_RECEIVE, WSK_EVENT_SEND_BACKLOG};
use wsk_core::consts::{disconnect, event_flags, receive, send};
use wsk_core::event::{Category, EventState};
use wsk_core::option::{OptName, SockOpt};
use wsk_core::status::NtStatus;

use super::options::{host_result, OptionContext};
use super::{Common, Handle, Kind, SocketShared, SocketState};
use crate::buffer::{copy_into, ReceiveBuffer, SendBuffer};
use crate::callbacks::{ConnectionEvents, EventFlags, ReceiveOutcome};
use crate::indication::{DataIndication, IndicationBuffer, BUFFER_SIZE};
use crate::op::{Canceller, Done, Op, Result};
use crate::registration::RegInner;
use wsk_core::irp::{OpId, OpQueue};

/// Most buffers one indication chain carries.
const MAX_CHAIN: usize = 4;
/// Most regions gathered into one `writev`.
const MAX_IOV: usize = 64;

type ReceiveDone = Box<dyn FnOnce(Result<usize>, Box<dyn ReceiveBuffer>) + Send>;

struct PendingSend {
    buf: Box<dyn SendBuffer>,
    written: usize,
    nodelay: bool,
    /// `None` for the final buffer of a graceful disconnect (the disconnect reports for it).
    done: Option<Done<usize>>,
}

struct PendingReceive {
    buf: Box<dyn ReceiveBuffer>,
    filled: usize,
    flags: u32,
    done: ReceiveDone,
}

struct PendingDisconnect {
    id: OpId,
    done: Done<()>,
    /// Milliseconds until the next look at whether the FIN was acknowledged.
    backoff_ms: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Created,
    Bound,
    Connecting,
    Connected,
    /// A connect failed: the socket can only be closed.
    Failed,
}

/// Receive-memory figures of one connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionStats {
    /// Bytes of provider receive buffers held now (unconsumed and retained).
    pub held: usize,
    /// The most ever held at once.
    pub high_water: usize,
    /// The receive backlog limit past which the provider stops reading.
    pub limit: usize,
}

/// The most `WskConnectEx` sends with its connect.
pub(crate) const MAX_CONNECT_DATA: usize = 65_535;

pub(crate) struct ConnState {
    family_of: SocketAddr,
    io: Option<Box<dyn TcpStream>>,
    phase: Phase,
    local: Option<SocketAddr>,
    remote: Option<SocketAddr>,
    handler: Option<Arc<dyn ConnectionEvents>>,
    connect: Option<(OpId, Done<()>)>,
    sends: OpQueue<PendingSend>,
    receives: OpQueue<PendingReceive>,
    /// Data read from the host but not consumed (after a partial or refused indication).
    leftover: VecDeque<IndicationBuffer>,
    disconnect: Option<PendingDisconnect>,
    /// The id of the send carrying a graceful disconnect's final buffer.
    final_send: Option<OpId>,
    readable: bool,
    writable: bool,
    error_hint: bool,
    /// The peer's FIN was read.
    read_eof: bool,
    /// The host reported the peer's FIN (it may still have data queued before it).
    peer_closed_hint: bool,
    /// The connection is dead (reset, aborted): no more I/O.
    failure: Option<NtStatus>,
    /// A graceful disconnect was started: no more sends.
    send_closed: bool,
    fin_sent: bool,
    fin_acked: bool,
    /// After a partial or refused indication: no indications until a receive completes.
    suspended: bool,
    /// An indication is in the client's hands: its unaccepted rest may come back and
    /// must be consumed before anything newer, so receives wait for it.
    indication_out: bool,
    disconnect_indicated: bool,
    failure_indicated: bool,
    backlog_due: bool,
    last_backlog: usize,
    /// `TCP_NODELAY` as the client set it on the socket.
    nodelay: bool,
    /// `TCP_NODELAY` as the host has it now (differs while NODELAY sends are written).
    nodelay_now: bool,
    /// `TCP_FASTOPEN` as the client set it (Linux `TCP_FASTOPEN_CONNECT`).
    pub(crate) fast_open: bool,
    /// A Fast Open connect the host deferred: the SYN leaves with the first write.
    deferred_connect: bool,
    /// `SIO_WSK_SET_TCP_SILENT_MODE`: no more sends, inbound data dropped, close sends nothing.
    silent: bool,
    /// The id it was inspected under, when accepted on a conditional-accept listener.
    pub(crate) inspect_id: Option<super::InspectId>,
}

impl ConnState {
    fn new(family_of: SocketAddr, io: Option<Box<dyn TcpStream>>, handler: Option<Arc<dyn ConnectionEvents>>) -> Self {
        ConnState {
            family_of,
            io,
            phase: Phase::Created,
            local: None,
            remote: None,
            handler,
            connect: None,
            sends: OpQueue::default(),
            receives: OpQueue::default(),
            leftover: VecDeque::new(),
            disconnect: None,
            final_send: None,
            readable: false,
            writable: false,
            error_hint: false,
            read_eof: false,
            peer_closed_hint: false,
            failure: None,
            send_closed: false,
            fin_sent: false,
            fin_acked: false,
            suspended: false,
            indication_out: false,
            disconnect_indicated: false,
            failure_indicated: false,
            backlog_due: false,
            last_backlog: 0,
            nodelay: false,
            nodelay_now: false,
            fast_open: false,
            deferred_connect: false,
            silent: false,
            inspect_id: None,
        }
    }

    /// The state of a stream socket committed to connecting by `WskConnect`: bound
    /// already (`io`, at `local`), not yet connected.
    pub(crate) fn from_stream(
        family_of: SocketAddr,
        io: Box<dyn TcpStream>,
        local: Option<SocketAddr>,
        handler: Option<Arc<dyn ConnectionEvents>>,
    ) -> Self {
        let mut state = ConnState::new(family_of, Some(io), handler);
        state.phase = Phase::Bound;
        state.local = local;
        state
    }

    pub(crate) fn is_connected(&self) -> bool {
        self.phase == Phase::Connected
    }

    pub(crate) fn readiness(&mut self, r: Readiness) {
        if r.readable || r.read_closed || r.error {
            self.readable = true;
        }
        if r.read_closed {
            self.peer_closed_hint = true;
        }
        if r.writable || r.write_closed || r.error {
            self.writable = true;
        }
        if r.error {
            self.error_hint = true;
        }
    }

    pub(crate) fn events_enabled(&mut self, mask: u32) {
        if mask & WSK_EVENT_SEND_BACKLOG != 0 {
            self.backlog_due = true;
            self.last_backlog = 0;
        }
    }

    /// Makes all the progress the host allows; returns whether the reactor should look
    /// (an event callback is due and this is not the reactor thread).
    pub(crate) fn drive(&mut self, shared: &Arc<SocketShared>, common: &mut Common, on_reactor: bool) -> bool {
        if self.phase == Phase::Connecting {
            if self.deferred_connect && !self.sends.is_empty() {
                // TCP Fast Open: this first write sends the SYN, with the data in it when
                // the host has a cookie for the peer.
                self.deferred_connect = false;
                self.pump_sends(common);
                self.writable = true;
            }
            self.check_connect(common);
        }
        if self.phase != Phase::Connected {
            return false;
        }
        if self.silent {
            self.drop_inbound();
            return false;
        }
        if self.error_hint && self.failure.is_none() {
            self.error_hint = false;
            if let Some(Ok(Some(e))) = self.io.as_ref().map(|io| io.take_error()) {
                self.fail(common, NtStatus::from_io_error(&e));
            }
        }
        self.pump_sends(common);
        self.pump_disconnect(shared, common);
        self.pump_receives(common);
        self.events(shared, common, on_reactor)
    }

    fn check_connect(&mut self, common: &mut Common) {
        if !self.writable {
            return;
        }
        let Some(io) = &self.io else { return };
        let outcome = match io.take_error() {
            Ok(Some(e)) | Err(e) => Err(NtStatus::from_io_error(&e)),
            Ok(None) => match io.peer_addr() {
                Ok(peer) => Ok(peer),
                Err(e) if e.kind() == io::ErrorKind::NotConnected => {
                    // Not finished yet (a readiness report from before the connect).
                    self.writable = false;
                    return;
                }
                Err(e) => Err(NtStatus::from_io_error(&e)),
            },
        };
        let (_, done) = self.connect.take().expect("connecting implies a pending connect");
        match outcome {
            Ok(peer) => {
                tracing::debug!(local = ?self.local, %peer, "connected");
                self.phase = Phase::Connected;
                self.remote = Some(peer);
                self.local = io.local_addr().ok().or(self.local);
                self.readable = true;
                common.complete(done, Ok(()));
            }
            Err(status) => {
                tracing::debug!(%status, "connect failed");
                self.connect_failed(common, done, status);
            }
        }
    }

    /// A connect ended without a connection: the socket can only be closed, and
    /// WskConnectEx's first buffer, queued with the connect, fails with it.
    fn connect_failed(&mut self, common: &mut Common, done: Done<()>, status: NtStatus) {
        self.phase = Phase::Failed;
        common.complete(done, Err(status));
        while let Some(s) = self.sends.pop_front() {
            if let Some(done) = s.done {
                common.complete(done, Err(status));
            }
        }
    }

    /// The connection died: every pending operation learns it.
    fn fail(&mut self, common: &mut Common, status: NtStatus) {
        if self.failure.is_some() {
            return;
        }
        tracing::debug!(local = ?self.local, remote = ?self.remote, %status, "connection failed");
        self.failure = Some(status);
        self.fail_sends(common, status);
        if let Some(d) = self.disconnect.take() {
            common.complete(d.done, Err(status));
        }
        while let Some(r) = self.receives.pop_front() {
            let result = if r.filled > 0 { Ok(r.filled) } else { Err(status) };
            complete_receive(common, r, result);
        }
    }

    fn fail_sends(&mut self, common: &mut Common, status: NtStatus) {
        while let Some(s) = self.sends.pop_front() {
            if let Some(done) = s.done {
                common.complete(done, Err(status));
            }
        }
    }

    fn pump_sends(&mut self, common: &mut Common) {
        while self.writable && self.failure.is_none() {
            // Zero-length sends complete in order without touching the host.
            while self.sends.front().is_some_and(|s| s.written == s.buf.len()) {
                let s = self.sends.pop_front().expect("front exists");
                if let Some(done) = s.done {
                    common.complete(done, Ok(s.written));
                }
            }
            if self.sends.is_empty() {
                return;
            }
            let Some(io) = &self.io else { return };
            let mut nodelay = false;
            let mut offered = 0;
            let result = {
                let mut iov: [IoSlice<'_>; MAX_IOV] = [IoSlice::new(&[]); MAX_IOV];
                let mut n = 0;
                'gather: for s in self.sends.iter() {
                    nodelay |= s.nodelay;
                    let mut off = s.written;
                    while off < s.buf.len() {
                        if n == MAX_IOV {
                            break 'gather;
                        }
                        let region = s.buf.region(off);
                        if region.is_empty() {
                            break;
                        }
                        off += region.len();
                        offered += region.len();
                        iov[n] = IoSlice::new(region);
                        n += 1;
                    }
                }
                // WSK_FLAG_NODELAY is per send; the host's TCP_NODELAY is per socket. It is
                // switched only when the next batch needs the other setting, so a run of
                // NODELAY sends costs no extra system calls.
                let wanted = nodelay || self.nodelay;
                if wanted != self.nodelay_now && io.set_nodelay(wanted).is_ok() {
                    self.nodelay_now = wanted;
                }
                io.write_vectored(&iov[..n])
            };
            match result {
                Ok(mut written) => {
                    if written < offered {
                        // The host's send buffer is full: wait for the writable report.
                        self.writable = false;
                        self.backlog_due = true;
                    }
                    while written > 0 {
                        let head = self.sends.front_mut().expect("written bytes belong to queued sends");
                        let take = (head.buf.len() - head.written).min(written);
                        head.written += take;
                        written -= take;
                        if head.written == head.buf.len() {
                            let s = self.sends.pop_front().expect("front exists");
                            if let Some(done) = s.done {
                                common.complete(done, Ok(s.written));
                            }
                        }
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.writable = false;
                    self.backlog_due = true;
                }
                // A Fast Open SYN left without data (no cookie yet): the data follows the handshake.
                Err(e)
                    if self.phase == Phase::Connecting
                        && e.raw_os_error() == Some(wsk_core::status::errno::EINPROGRESS) =>
                {
                    self.writable = false;
                }
                Err(e) => self.fail(common, NtStatus::from_io_error(&e)),
            }
        }
    }

    fn pump_disconnect(&mut self, shared: &Arc<SocketShared>, common: &mut Common) {
        if self.disconnect.is_none() || self.fin_sent || !self.sends.is_empty() || self.failure.is_some() {
            return;
        }
        let Some(io) = &self.io else { return };
        match io.shutdown_write() {
            Ok(()) => {
                self.fin_sent = true;
                self.check_fin_acked(shared, common);
            }
            Err(e) => {
                let d = self.disconnect.take().expect("checked above");
                common.complete(d.done, Err(NtStatus::from_io_error(&e)));
            }
        }
    }

    /// Completes a graceful disconnect once the host says the FIN was acknowledged;
    /// otherwise looks again later (the host has no readiness event for it).
    fn check_fin_acked(&mut self, shared: &Arc<SocketShared>, common: &mut Common) {
        let Some(io) = &self.io else { return };
        let acked = match io.info() {
            Ok(info) => info.fin_acked,
            Err(_) => true,
        };
        if acked {
            self.fin_acked = true;
            if let Some(d) = self.disconnect.take() {
                shared.provider.clear_timer(shared.token);
                common.complete(d.done, Ok(()));
            }
        } else if let Some(d) = &mut self.disconnect {
            let wait = d.backoff_ms;
            d.backoff_ms = (d.backoff_ms * 2).min(50);
            shared.provider.set_timer(shared.token, Instant::now() + Duration::from_millis(wait));
        }
    }

    pub(crate) fn on_timer(&mut self, shared: &Arc<SocketShared>, common: &mut Common) {
        if self.fin_sent && self.disconnect.is_some() {
            self.check_fin_acked(shared, common);
        }
    }

    fn pump_receives(&mut self, common: &mut Common) {
        if self.indication_out {
            return;
        }
        while let Some(head) = self.receives.front_mut() {
            let drain = head.flags & receive::WSK_FLAG_DRAIN != 0;
            let waitall = head.flags & receive::WSK_FLAG_WAITALL != 0;
            let capacity = head.buf.capacity();
            if capacity == 0 && !drain {
                // A zero-length receive completes at once; it re-arms indications.
                let r = self.receives.pop_front().expect("front exists");
                self.suspended = false;
                complete_receive(common, r, Ok(0));
                continue;
            }
            // Data the provider already holds comes first.
            while let Some(front) = self.leftover.front_mut() {
                if drain {
                    self.leftover.pop_front();
                    continue;
                }
                if head.filled == capacity {
                    break;
                }
                let n = copy_into(head.buf.as_mut(), head.filled, front.data());
                head.filled += n;
                front.consume(n);
                if front.is_empty() {
                    self.leftover.pop_front();
                }
            }
            let satisfied = !drain && (head.filled == capacity || (head.filled > 0 && !waitall));
            if satisfied {
                let r = self.receives.pop_front().expect("front exists");
                self.suspended = false;
                let filled = r.filled;
                complete_receive(common, r, Ok(filled));
                continue;
            }
            if let Some(status) = self.failure {
                let r = self.receives.pop_front().expect("front exists");
                let result = if r.filled > 0 { Ok(r.filled) } else { Err(status) };
                complete_receive(common, r, result);
                continue;
            }
            if self.read_eof {
                // The peer's FIN completes every pending receive, with what it has (maybe 0).
                let r = self.receives.pop_front().expect("front exists");
                self.suspended = false;
                let filled = r.filled;
                complete_receive(common, r, Ok(filled));
                continue;
            }
            if !self.readable {
                return;
            }
            let Some(io) = &self.io else { return };
            // Drained data is read into a throw-away buffer, made only for a drain.
            let mut scratch = if drain { vec![0u8; 16 * 1024] } else { Vec::new() };
            let target: &mut [u8] = if drain { &mut scratch } else { head.buf.region(head.filled) };
            let asked = target.len();
            match io.read(target) {
                Ok(0) => self.read_eof = true,
                Ok(n) => {
                    if !drain {
                        head.filled += n;
                    }
                    if drained(n, asked, self.peer_closed_hint) {
                        self.readable = false;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.readable = false;
                    return;
                }
                Err(e) => self.fail(common, NtStatus::from_io_error(&e)),
            }
        }
    }

    fn events(&mut self, shared: &Arc<SocketShared>, common: &mut Common, on_reactor: bool) -> bool {
        let Some(handler) = self.handler.clone() else {
            return false;
        };
        if common.event_in_flight() || common.closed {
            return false;
        }
        let events = common.events;
        let enabled = |bit| events.is_enabled(bit);
        if self.backlog_due && enabled(WSK_EVENT_SEND_BACKLOG) && self.failure.is_none() {
            if !on_reactor {
                return true;
            }
            self.backlog_due = false;
            let ideal = self.ideal_send_backlog().unwrap_or(0);
            if ideal != self.last_backlog {
                self.last_backlog = ideal;
                common.event(WSK_EVENT_SEND_BACKLOG, move || handler.on_send_backlog(ideal));
                return false;
            }
        }
        if self.failure.is_some() && !self.failure_indicated {
            let disconnect = enabled(WSK_EVENT_DISCONNECT);
            let receive = enabled(WSK_EVENT_RECEIVE);
            if !(disconnect || receive) {
                return false;
            }
            if !on_reactor {
                return true;
            }
            self.failure_indicated = true;
            // Only a reset from the peer is a disconnect indication; a local abort is not.
            let abortive_indication =
                disconnect && !self.disconnect_indicated && self.failure != Some(NtStatus::CONNECTION_ABORTED);
            self.disconnect_indicated = true;
            common.event(WSK_EVENT_DISCONNECT, move || {
                if abortive_indication {
                    handler.on_disconnect(true);
                }
                if receive {
                    let _ = handler.on_receive(None, EventFlags::default());
                }
            });
            return false;
        }
        if self.failure.is_some() {
            return false;
        }
        if self.receives.is_empty() && enabled(WSK_EVENT_RECEIVE) && !self.suspended {
            if !self.leftover.is_empty() {
                if !on_reactor {
                    return true;
                }
                let chain: Vec<IndicationBuffer> = self.leftover.drain(..).collect();
                self.indicate(shared, common, handler, chain);
                return false;
            }
            if self.readable && !self.read_eof && shared.ledger.has_room() {
                if !on_reactor {
                    return true;
                }
                let chain = self.read_chain(shared, common);
                if !chain.is_empty() {
                    self.indicate(shared, common, handler, chain);
                    return false;
                }
            }
        }
        let peer_done = self.read_eof || (self.peer_closed_hint && !enabled(WSK_EVENT_RECEIVE));
        if peer_done
            && self.failure.is_none()
            && !self.disconnect_indicated
            && enabled(WSK_EVENT_DISCONNECT)
            && self.leftover.is_empty()
        {
            if !on_reactor {
                return true;
            }
            self.disconnect_indicated = true;
            common.event(WSK_EVENT_DISCONNECT, move || handler.on_disconnect(false));
        }
        false
    }

    /// Reads from the host into fresh pooled buffers, as long as the backlog allows.
    fn read_chain(&mut self, shared: &Arc<SocketShared>, common: &mut Common) -> Vec<IndicationBuffer> {
        let mut chain = Vec::new();
        let Some(io) = &self.io else { return chain };
        while chain.len() < MAX_CHAIN && shared.ledger.has_room() {
            let mut buf = shared.ledger.allocate();
            match io.read(buf.spare()) {
                Ok(0) => {
                    self.read_eof = true;
                    break;
                }
                Ok(n) => {
                    buf.set_filled(n);
                    chain.push(buf);
                    if drained(n, BUFFER_SIZE, self.peer_closed_hint) {
                        self.readable = false;
                        break;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.readable = false;
                    break;
                }
                Err(e) => {
                    self.fail(common, NtStatus::from_io_error(&e));
                    break;
                }
            }
        }
        chain
    }

    fn indicate(
        &mut self,
        shared: &Arc<SocketShared>,
        common: &mut Common,
        handler: Arc<dyn ConnectionEvents>,
        chain: Vec<IndicationBuffer>,
    ) {
        let flags = if shared.ledger.short() { event_flags::WSK_FLAG_RELEASE_ASAP } else { 0 };
        self.indication_out = true;
        let socket = Arc::clone(shared);
        common.event(WSK_EVENT_RECEIVE, move || {
            // A panicking handler counts as not accepting: the bytes stay for a receive.
            super::run_receive_callback(
                DataIndication::new(chain),
                |indication| handler.on_receive(Some(indication), EventFlags(flags)),
                ReceiveOutcome::NotAccepted,
                |outcome, indication| socket.receive_event_returned(outcome, indication),
            );
        });
    }

    /// Applies a `WskReceiveEvent` outcome: what was not taken is kept, first in line.
    fn indication_returned(&mut self, outcome: ReceiveOutcome, indication: DataIndication) -> Vec<IndicationBuffer> {
        self.indication_out = false;
        let indicated = indication.bytes_indicated();
        let mut chain = indication.into_chain();
        let keep_from = match outcome {
            ReceiveOutcome::Accepted | ReceiveOutcome::Retained => return chain,
            ReceiveOutcome::Partial(n) if n >= indicated => return chain,
            ReceiveOutcome::Partial(n) => n,
            ReceiveOutcome::NotAccepted => 0,
        };
        self.suspended = true;
        let mut skip = keep_from;
        let mut released = Vec::new();
        let mut kept = Vec::new();
        for mut buf in chain.drain(..) {
            if skip >= buf.len() {
                skip -= buf.len();
                released.push(buf);
            } else {
                buf.consume(skip);
                skip = 0;
                kept.push(buf);
            }
        }
        for buf in kept.into_iter().rev() {
            self.leftover.push_front(buf);
        }
        released
    }

    fn ideal_send_backlog(&self) -> Result<usize> {
        let io = self.io.as_ref().ok_or(NtStatus::INVALID_DEVICE_STATE)?;
        io.info().map(|i| i.send_buffer).map_err(|e| NtStatus::from_io_error(&e))
    }

    pub(crate) fn cancel(&mut self, common: &mut Common, id: OpId) -> bool {
        if self.connect.as_ref().is_some_and(|(cid, _)| *cid == id) {
            let (_, done) = self.connect.take().expect("checked");
            self.connect_failed(common, done, NtStatus::CANCELLED);
            return true;
        }
        if let Some(s) = self.sends.remove(id) {
            if s.written > 0 && s.written < s.buf.len() {
                // Part of it is on the wire: the stream cannot continue coherently.
                if let Some(io) = &self.io {
                    let _ = io.abort();
                }
                self.fail(common, NtStatus::CONNECTION_ABORTED);
            }
            if let Some(done) = s.done {
                common.complete(done, Err(NtStatus::CANCELLED));
            }
            return true;
        }
        if let Some(r) = self.receives.remove(id) {
            // Bytes it already took from the stream are not lost: a receive cancelled
            // with data completes successfully with what it has.
            let result = if r.filled > 0 { Ok(r.filled) } else { Err(NtStatus::CANCELLED) };
            complete_receive(common, r, result);
            return true;
        }
        if self.disconnect.as_ref().is_some_and(|d| d.id == id) {
            let d = self.disconnect.take().expect("checked");
            if let Some(final_send) = self.final_send.take() {
                self.sends.remove(final_send);
            }
            common.complete(d.done, Err(NtStatus::CANCELLED));
            return true;
        }
        false
    }

    pub(crate) fn close(&mut self, common: &mut Common) {
        if let Some((_, done)) = self.connect.take() {
            common.complete(done, Err(NtStatus::CANCELLED));
        }
        self.fail_sends(common, NtStatus::CANCELLED);
        if let Some(d) = self.disconnect.take() {
            common.complete(d.done, Err(NtStatus::CANCELLED));
        }
        while let Some(r) = self.receives.pop_front() {
            complete_receive(common, r, Err(NtStatus::CANCELLED));
        }
        self.leftover.clear();
        if let Some(io) = self.io.take() {
            // Per WskCloseSocket: closing is abortive unless both directions are done.
            let both_done = self.fin_sent && (self.read_eof || self.peer_closed_hint);
            // A silent connection leaves without a word (the host froze it).
            if self.phase == Phase::Connected && !both_done && self.failure.is_none() && !self.silent {
                let _ = io.abort();
            }
        }
        self.handler = None;
    }
}

/// Whether a TCP read of `n` bytes out of `asked` emptied the host queue. With
/// edge-triggered readiness new data raises a new report, so the extra read that would
/// only return `WouldBlock` is skipped — except after the peer's FIN was reported, when
/// the end of stream still has to be read.
fn drained(n: usize, asked: usize, peer_closed: bool) -> bool {
    n < asked && !peer_closed
}

fn complete_receive(common: &mut Common, r: PendingReceive, result: Result<usize>) {
    let done = r.done;
    let buf = r.buf;
    common.completion(move || done(result, buf));
}

impl SocketShared {
    fn receive_event_returned(self: &Arc<Self>, outcome: ReceiveOutcome, indication: DataIndication) {
        let mut st = self.lock();
        let closed = st.common.closed;
        let released = match &mut st.kind {
            Kind::Connection(c) if !closed => c.indication_returned(outcome, indication),
            _ => indication.into_chain(),
        };
        drop(st);
        // Buffers go back to the pool with no lock held.
        drop(released);
    }
}

/// A connection-oriented socket (`WSK_FLAG_CONNECTION_SOCKET`).
///
/// Handles are cheap to clone; the socket closes on [`ConnectionSocket::close`], or
/// abortively when the last handle is dropped. Every operation starts at the call and
/// returns an [`Op`] (a future), or takes a completion routine (`*_then`).
///
/// ```
/// # fn main() -> Result<(), wsk::NtStatus> {
/// let registration = wsk::Registration::new()?;
/// let npi = registration.capture(wsk::Wait::Infinite)?;
/// let listener = npi.listen_socket("127.0.0.1:0".parse().unwrap(), None).wait()?;
/// listener.bind("127.0.0.1:0".parse().unwrap()).wait()?;
/// let socket = npi.connection_socket("127.0.0.1:0".parse().unwrap(), None).wait()?;
/// socket.bind("127.0.0.1:0".parse().unwrap()).wait()?;     // WskConnect needs a bound socket
/// socket.connect(listener.local_addr()?).wait()?;
/// let peer = listener.accept(None).wait()?.socket;
/// assert_eq!(socket.send(b"hello".to_vec(), 0).wait()?, 5);
/// assert_eq!(peer.receive(5, wsk::flags::WSK_FLAG_WAITALL).wait()?, b"hello");
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct ConnectionSocket {
    pub(crate) h: Arc<Handle>,
}

impl std::fmt::Debug for ConnectionSocket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectionSocket").field("token", &self.h.shared.token).finish()
    }
}

super::control::socket_control!(ConnectionSocket);

impl ConnectionSocket {
    pub(crate) fn create(
        reg: &Arc<RegInner>,
        family_of: SocketAddr,
        handler: Option<Arc<dyn ConnectionEvents>>,
    ) -> Result<ConnectionSocket> {
        let provider = &reg.provider.inner;
        let io = provider.backend.tcp_socket(&family_of).map_err(|e| NtStatus::from_io_error(&e))?;
        let state = ConnState::new(family_of, Some(io), handler);
        let shared = SocketShared::open(reg, Category::Connection, None, Kind::Connection(state))?;
        Ok(ConnectionSocket { h: Handle::new(shared) })
    }

    pub(crate) fn create_connected(
        reg: &Arc<RegInner>,
        local: SocketAddr,
        remote: SocketAddr,
        handler: Option<Arc<dyn ConnectionEvents>>,
        done: Done<ConnectionSocket>,
    ) -> Option<Canceller> {
        let socket = match ConnectionSocket::create(reg, local, handler) {
            Ok(s) => s,
            Err(e) => {
                done(Err(e));
                return None;
            }
        };
        if let Err(e) = socket.bind(local).wait() {
            let _ = socket.h.shared.close(None);
            done(Err(e));
            return None;
        }
        let keep = socket.clone();
        // Cancelling the returned op cancels the connect; the socket is then closed.
        socket.connect_then(remote, move |r| match r {
            Ok(()) => done(Ok(keep)),
            Err(e) => {
                let _ = keep.h.shared.close(None);
                done(Err(e))
            }
        })
    }

    pub(crate) fn from_accepted(
        reg: &Arc<RegInner>,
        io: Box<dyn TcpStream>,
        local: SocketAddr,
        remote: SocketAddr,
        events: EventState,
        handler: Option<Arc<dyn ConnectionEvents>>,
    ) -> Result<ConnectionSocket> {
        let mut state = ConnState::new(local, Some(io), handler);
        state.phase = Phase::Connected;
        state.local = Some(local);
        state.remote = Some(remote);
        state.readable = true;
        state.writable = true;
        state.backlog_due = events.is_enabled(WSK_EVENT_SEND_BACKLOG);
        let shared = SocketShared::open(reg, Category::Connection, Some(events), Kind::Connection(state))?;
        let registered = match &shared.lock().kind {
            Kind::Connection(ConnState { io: Some(io), .. }) => io.register(shared.token),
            _ => Ok(()),
        };
        if let Err(e) = registered {
            // Not watched by the reactor, the socket would be useless: close it (counted
            // by the registration already) and report why.
            let _ = shared.close(None);
            return Err(NtStatus::from_io_error(&e));
        }
        shared.provider.schedule(shared.token);
        Ok(ConnectionSocket { h: Handle::new(shared) })
    }

    /// Records the inspect id of a socket accepted on a conditional-accept listener.
    pub(crate) fn set_inspect_id(&self, id: super::InspectId) {
        if let Kind::Connection(c) = &mut self.h.shared.lock().kind {
            c.inspect_id = Some(id);
        }
    }

    /// Installs the callbacks returned by `WskAcceptEvent` (`AcceptSocketDispatch`).
    pub(crate) fn set_handler(shared: &Arc<SocketShared>, handler: Option<Arc<dyn ConnectionEvents>>) {
        let mut st = shared.lock();
        if let Kind::Connection(c) = &mut st.kind {
            c.handler = handler;
        }
        drop(st);
        shared.provider.schedule(shared.token);
    }

    fn with_state<R>(&self, f: impl FnOnce(&mut Common, &mut ConnState) -> Result<R>) -> Result<R> {
        self.h.with_state(f)
    }

    fn start<T: Send + 'static>(
        &self,
        done: Done<T>,
        start: impl FnOnce(&mut Common, &mut ConnState, OpId, Done<T>) -> std::result::Result<(), (NtStatus, Done<T>)>,
    ) -> Option<OpId> {
        self.h.start(done, start)
    }

    fn op<T: Send + 'static>(
        &self,
        start: impl FnOnce(&mut Common, &mut ConnState, OpId, Done<T>) -> std::result::Result<(), (NtStatus, Done<T>)>,
    ) -> Op<T> {
        self.h.op(start)
    }

    /// `WskBind`: binds to a local address (wildcard allowed: the host picks the port now
    /// and the IP at connect). Required before [`ConnectionSocket::connect`].
    ///
    /// Fails with `STATUS_INVALID_DEVICE_STATE` when already bound, `STATUS_INVALID_PARAMETER`
    /// for the other family, `STATUS_ADDRESS_ALREADY_ASSOCIATED` when the address is taken.
    pub fn bind(&self, addr: SocketAddr) -> Op<()> {
        self.op(move |common, c, _, done| {
            if c.phase != Phase::Created {
                return Err((NtStatus::INVALID_DEVICE_STATE, done));
            }
            if addr.is_ipv4() != c.family_of.is_ipv4() {
                return Err((NtStatus::INVALID_PARAMETER, done));
            }
            let io = c.io.as_ref().expect("created sockets have a host socket");
            if let Err(e) = io.bind(addr) {
                return Err((NtStatus::from_io_error(&e), done));
            }
            c.local = io.local_addr().ok();
            c.phase = Phase::Bound;
            common.complete(done, Ok(()));
            Ok(())
        })
    }

    /// `WskConnect`: connects a bound socket.
    ///
    /// Fails with `STATUS_INVALID_DEVICE_STATE` when not bound (or already connected),
    /// `STATUS_CONNECTION_REFUSED`, `STATUS_NETWORK_UNREACHABLE`, `STATUS_HOST_UNREACHABLE`,
    /// `STATUS_IO_TIMEOUT` as the host reports, `STATUS_CANCELLED` when cancelled or closed.
    pub fn connect(&self, remote: SocketAddr) -> Op<()> {
        let (op, done) = Op::new();
        match self.connect_with(remote, done) {
            Some(id) => op.cancellable(&self.h.shared, id),
            None => op,
        }
    }

    /// [`ConnectionSocket::connect`] with a completion routine; returns a [`Canceller`]
    /// while the connect is pending.
    pub fn connect_then(
        &self,
        remote: SocketAddr,
        done: impl FnOnce(Result<()>) + Send + 'static,
    ) -> Option<Canceller> {
        self.connect_with(remote, Box::new(done)).map(|id| Canceller::new(&self.h.shared, id))
    }

    fn connect_with(&self, remote: SocketAddr, done: Done<()>) -> Option<OpId> {
        let token = self.h.shared.token;
        self.start(done, move |_, c, id, done| c.begin_connect(token, remote, false, id, done))
    }

    /// `WskConnectEx`: [`ConnectionSocket::connect`] that also sends `first` (at most
    /// 65,535 bytes) once connected — inside the SYN with TCP Fast Open when the client
    /// set `TCP_FASTOPEN` and the host allows it (`net.ipv4.tcp_fastopen` bit 1 and a
    /// cookie for the peer; otherwise right after the handshake). Completes when both are done.
    ///
    /// # Errors
    /// As [`ConnectionSocket::connect`] and [`ConnectionSocket::send`], and
    /// `STATUS_BUFFER_OVERFLOW` for a first buffer over 65,535 bytes.
    pub fn connect_ex(&self, remote: SocketAddr, first: Option<Box<dyn SendBuffer>>) -> Op<()> {
        let (op, done) = Op::new();
        let canceller = self.connect_ex_then(remote, first, done);
        op.with_canceller(canceller)
    }

    /// [`ConnectionSocket::connect_ex`] with a completion routine; the [`Canceller`] cancels
    /// the connect (a first buffer not yet sent then fails with it).
    pub fn connect_ex_then(
        &self,
        remote: SocketAddr,
        first: Option<Box<dyn SendBuffer>>,
        done: impl FnOnce(Result<()>) + Send + 'static,
    ) -> Option<Canceller> {
        let first = first.filter(|b| !b.is_empty());
        let Some(first) = first else { return self.connect_then(remote, done) };
        // Two operations, one completion: the first failure, or success once both succeeded.
        let join = Arc::new(std::sync::Mutex::new((2u8, Some(Box::new(done) as Done<()>))));
        let finish = move |join: &std::sync::Mutex<(u8, Option<Done<()>>)>, r: Result<()>| {
            let mut j = crate::provider::lock(join);
            j.0 -= 1;
            if r.is_err() || j.0 == 0 {
                if let Some(done) = j.1.take() {
                    drop(j);
                    done(r);
                }
            }
        };
        let (j1, j2) = (Arc::clone(&join), join);
        let on_connect: Done<()> = Box::new(move |r| finish(&j1, r));
        let on_send: Done<usize> = Box::new(move |r| finish(&j2, r.map(|_| ())));
        let token = self.h.shared.token;
        self.start(on_connect, move |common, c, id, done| {
            if first.len() > MAX_CONNECT_DATA {
                return Err((NtStatus::BUFFER_OVERFLOW, done));
            }
            c.begin_connect(token, remote, true, id, done)?;
            let send_id = common.next_id();
            c.sends.push(send_id, PendingSend { buf: first, written: 0, nodelay: false, done: Some(on_send) });
            Ok(())
        })
        .map(|id| Canceller::new(&self.h.shared, id))
    }

    /// `WskGetLocalAddress`.
    ///
    /// # Errors
    /// `STATUS_INVALID_DEVICE_STATE` when not bound; `STATUS_INVALID_HANDLE` after close.
    pub fn local_addr(&self) -> Result<SocketAddr> {
        self.with_state(|_, c| c.local.ok_or(NtStatus::INVALID_DEVICE_STATE))
    }

    /// `WskGetRemoteAddress`.
    ///
    /// # Errors
    /// `STATUS_INVALID_DEVICE_STATE` when not connected; `STATUS_INVALID_HANDLE` after close.
    pub fn remote_addr(&self) -> Result<SocketAddr> {
        self.with_state(|_, c| {
            if c.phase == Phase::Connected {
                c.remote.ok_or(NtStatus::INVALID_DEVICE_STATE)
            } else {
                Err(NtStatus::INVALID_DEVICE_STATE)
            }
        })
    }

    /// `WskSend`: completes with the byte count once the host took every byte.
    /// Sends complete in the order they were started. `flags`: 0 or `WSK_FLAG_NODELAY`.
    ///
    /// Fails with `STATUS_INVALID_DEVICE_STATE` when not connected, `STATUS_NOT_SUPPORTED`
    /// for `WSK_FLAG_OOB`, `STATUS_INVALID_PARAMETER` for unknown flags,
    /// `STATUS_PIPE_DISCONNECTED` after a graceful disconnect, the connection's failure
    /// status (e.g. `STATUS_CONNECTION_RESET`) once it died.
    pub fn send(&self, data: impl SendBuffer, flags: u32) -> Op<usize> {
        let (op, done) = Op::new();
        match self.send_with(Box::new(data), flags, done) {
            Some(id) => op.cancellable(&self.h.shared, id),
            None => op,
        }
    }

    /// [`ConnectionSocket::send`] with a completion routine; returns a [`Canceller`] while
    /// the send is pending.
    pub fn send_then(
        &self,
        data: Box<dyn SendBuffer>,
        flags: u32,
        done: impl FnOnce(Result<usize>) + Send + 'static,
    ) -> Option<Canceller> {
        self.send_with(data, flags, Box::new(done)).map(|id| Canceller::new(&self.h.shared, id))
    }

    fn send_with(&self, buf: Box<dyn SendBuffer>, flags: u32, done: Done<usize>) -> Option<OpId> {
        self.start(done, move |_, c, id, done| {
            if flags & send::WSK_FLAG_OOB != 0 {
                return Err((NtStatus::NOT_SUPPORTED, done));
            }
            if flags & !send::WSK_FLAG_NODELAY != 0 {
                return Err((NtStatus::INVALID_PARAMETER, done));
            }
            if let Err(e) = c.check_can_send() {
                return Err((e, done));
            }
            c.sends.push(
                id,
                PendingSend { buf, written: 0, nodelay: flags & send::WSK_FLAG_NODELAY != 0, done: Some(done) },
            );
            Ok(())
        })
    }

    /// `WskReceive` into a fresh buffer of `len` bytes; completes with the bytes received
    /// (fewer than `len` unless `WSK_FLAG_WAITALL`; empty once the peer sent its FIN).
    pub fn receive(&self, len: usize, flags: u32) -> Op<Vec<u8>> {
        let (op, done) = Op::new();
        let buf: Box<dyn ReceiveBuffer> = Box::new(vec![0u8; len]);
        let id = self.receive_with(
            buf,
            flags,
            Box::new(move |r, buf| {
                let out = r.map(|n| {
                    let mut v = *buf.into_any().downcast::<Vec<u8>>().expect("a Vec went in");
                    v.truncate(n);
                    v
                });
                done(out)
            }),
        );
        match id {
            Some(id) => op.cancellable(&self.h.shared, id),
            None => op,
        }
    }

    /// `WskReceive` with a completion routine that gets the caller's buffer back.
    ///
    /// `flags`: 0, `WSK_FLAG_WAITALL` (complete only when full, or at disconnect), or
    /// `WSK_FLAG_DRAIN` (discard data until disconnect; the buffer must be empty).
    /// A zero-length receive completes at once and re-arms receive indications.
    /// Fails with `STATUS_INVALID_PARAMETER` for unknown or conflicting flags,
    /// `STATUS_INVALID_DEVICE_STATE` when not connected, `STATUS_CANCELLED` when cancelled
    /// or closed, the connection's failure status once it died.
    pub fn receive_then(
        &self,
        buf: Box<dyn ReceiveBuffer>,
        flags: u32,
        done: impl FnOnce(Result<usize>, Box<dyn ReceiveBuffer>) + Send + 'static,
    ) -> Option<Canceller> {
        self.receive_with(buf, flags, Box::new(done)).map(|id| Canceller::new(&self.h.shared, id))
    }

    fn receive_with(&self, buf: Box<dyn ReceiveBuffer>, flags: u32, done: ReceiveDone) -> Option<OpId> {
        let shared = &self.h.shared;
        let mut st = shared.lock();
        let SocketState { common, kind } = &mut *st;
        let status = if common.closed {
            NtStatus::INVALID_HANDLE
        } else {
            match kind {
                Kind::Connection(c) => {
                    let known = receive::WSK_FLAG_WAITALL | receive::WSK_FLAG_DRAIN;
                    let drain = flags & receive::WSK_FLAG_DRAIN != 0;
                    if flags & !known != 0 || flags == known || (drain && buf.capacity() != 0) {
                        NtStatus::INVALID_PARAMETER
                    } else if let Err(e) = c.check_can_receive() {
                        e
                    } else {
                        let id = common.next_id();
                        c.receives.push(id, PendingReceive { buf, filled: 0, flags, done });
                        shared.run(st);
                        return Some(id);
                    }
                }
                _ => NtStatus::INVALID_DEVICE_REQUEST,
            }
        };
        st.common.completion(move || done(Err(status), buf));
        shared.run(st);
        None
    }

    /// `WskDisconnect`. Graceful (flags 0): sends `final_data` (if any) after every
    /// pending send, then a FIN; completes when the host reports the FIN acknowledged.
    /// Receiving goes on until the peer closes. Abortive (`WSK_FLAG_ABORTIVE`, no
    /// buffer): resets the connection at once, cancelling pending sends.
    ///
    /// Fails with `STATUS_INVALID_PARAMETER` for unknown flags or a buffer with an abortive
    /// disconnect, `STATUS_INVALID_DEVICE_STATE` when not connected or already disconnecting.
    pub fn disconnect(&self, final_data: Option<Box<dyn SendBuffer>>, flags: u32) -> Op<()> {
        let (op, done) = Op::new();
        match self.disconnect_with(final_data, flags, done) {
            Some(id) => op.cancellable(&self.h.shared, id),
            None => op,
        }
    }

    /// [`ConnectionSocket::disconnect`] with a completion routine, attached before the
    /// disconnect starts (so it runs in the socket's completion order); returns a
    /// [`Canceller`] while the disconnect is pending.
    pub fn disconnect_then(
        &self,
        final_data: Option<Box<dyn SendBuffer>>,
        flags: u32,
        done: impl FnOnce(Result<()>) + Send + 'static,
    ) -> Option<Canceller> {
        self.disconnect_with(final_data, flags, Box::new(done)).map(|id| Canceller::new(&self.h.shared, id))
    }

    fn disconnect_with(&self, final_data: Option<Box<dyn SendBuffer>>, flags: u32, done: Done<()>) -> Option<OpId> {
        self.start(done, move |common, c, id, done| {
            if flags & !disconnect::WSK_FLAG_ABORTIVE != 0 {
                return Err((NtStatus::INVALID_PARAMETER, done));
            }
            if c.phase != Phase::Connected || c.silent {
                return Err((NtStatus::INVALID_DEVICE_STATE, done));
            }
            if flags & disconnect::WSK_FLAG_ABORTIVE != 0 {
                if final_data.is_some() {
                    return Err((NtStatus::INVALID_PARAMETER, done));
                }
                if c.failure.is_none() {
                    if let Some(io) = &c.io {
                        let _ = io.abort();
                    }
                    c.fail_sends(common, NtStatus::CANCELLED);
                    if let Some(d) = c.disconnect.take() {
                        common.complete(d.done, Err(NtStatus::CANCELLED));
                    }
                    // A local abort is not indicated back to the client.
                    c.failure_indicated = true;
                    c.disconnect_indicated = true;
                    c.fail(common, NtStatus::CONNECTION_ABORTED);
                }
                common.complete(done, Ok(()));
                return Ok(());
            }
            if let Some(status) = c.failure {
                return Err((status, done));
            }
            if c.send_closed {
                return Err((NtStatus::INVALID_DEVICE_STATE, done));
            }
            c.send_closed = true;
            if let Some(buf) = final_data {
                // The final buffer is a send of its own, cancelled with the disconnect.
                c.final_send = Some(common.next_id());
                c.sends.push(c.final_send.unwrap(), PendingSend { buf, written: 0, nodelay: false, done: None });
            }
            c.disconnect = Some(PendingDisconnect { id, done, backoff_ms: 1 });
            Ok(())
        })
    }

    /// `SO_WSK_EVENT_CALLBACK` enable (after connect): turns on the callbacks in `mask`
    /// (`WSK_EVENT_RECEIVE`, `WSK_EVENT_DISCONNECT`, `WSK_EVENT_SEND_BACKLOG`).
    ///
    /// # Errors
    /// `STATUS_INVALID_DEVICE_STATE` before connect; `STATUS_INVALID_PARAMETER` for other bits.
    pub fn enable_events(&self, mask: u32) -> Result<()> {
        self.h.set_events(mask)
    }

    /// `SO_WSK_EVENT_CALLBACK` disable of one event, with an IRP: completes once no
    /// callback of that event runs any more.
    pub fn disable_event(&self, bit: u32) -> Op<()> {
        self.h.disable_event(bit)
    }

    /// The same without an IRP: `STATUS_SUCCESS`, or `STATUS_EVENT_PENDING` when that
    /// callback is running now (it is disabled once it returns).
    pub fn disable_event_nowait(&self, bit: u32) -> NtStatus {
        self.h.disable_event_nowait(bit)
    }

    /// `SIO_WSK_QUERY_IDEAL_SEND_BACKLOG`: the host socket's send buffer size, which is
    /// how much unacknowledged data keeps the host's pipe full.
    ///
    /// # Errors
    /// `STATUS_INVALID_DEVICE_STATE` before connect.
    pub fn ideal_send_backlog(&self) -> Result<usize> {
        self.with_state(|_, c| {
            if c.phase != Phase::Connected {
                return Err(NtStatus::INVALID_DEVICE_STATE);
            }
            c.ideal_send_backlog()
        })
    }

    /// `SIO_WSK_QUERY_RECEIVE_BACKLOG`: bytes received and not yet consumed (in the host
    /// queue plus held by the provider outside retained indications).
    ///
    /// # Errors
    /// `STATUS_INVALID_DEVICE_STATE` before connect.
    pub fn receive_backlog(&self) -> Result<usize> {
        self.with_state(|_, c| {
            if c.phase != Phase::Connected {
                return Err(NtStatus::INVALID_DEVICE_STATE);
            }
            let held: usize = c.leftover.iter().map(IndicationBuffer::len).sum();
            let io = c.io.as_ref().ok_or(NtStatus::INVALID_DEVICE_STATE)?;
            let unread = io.info().map(|i| i.unread).map_err(|e| NtStatus::from_io_error(&e))?;
            Ok(held + unread)
        })
    }

    /// `IPPROTO_TCP`/`TCP_NODELAY` on the socket.
    ///
    /// # Errors
    /// The host's refusal, as a status.
    pub fn set_nodelay(&self, on: bool) -> Result<()> {
        self.h.shared.set_option(SockOpt::NoDelay(on))
    }

    /// `SIO_WSK_SET_TCP_SILENT_MODE`: from now on sends and disconnects fail with
    /// `STATUS_INVALID_DEVICE_STATE`, arriving data is dropped (nothing is indicated),
    /// and closing sends neither FIN nor RST; only close is useful afterwards. The host
    /// freezes the connection with `TCP_REPAIR` (needs `CAP_NET_ADMIN`). Windows refuses
    /// loopback connections; this provider allows them, so it can be tested.
    ///
    /// # Errors
    /// `STATUS_INVALID_DEVICE_STATE` when not connected or with a send or disconnect
    /// pending; `STATUS_ACCESS_DENIED` when the host refuses `TCP_REPAIR`.
    pub fn set_silent_mode(&self) -> Result<()> {
        self.with_state(|_, c| {
            if c.phase != Phase::Connected || !c.sends.is_empty() || c.disconnect.is_some() {
                return Err(NtStatus::INVALID_DEVICE_STATE);
            }
            let io = c.io.as_ref().ok_or(NtStatus::INVALID_DEVICE_STATE)?;
            io.set_silent().map_err(|e| NtStatus::from_io_error(&e))?;
            c.silent = true;
            Ok(())
        })
    }

    /// Sets the receive backlog limit: past it the provider stops reading the host
    /// socket until the client consumes or releases data.
    ///
    /// # Errors
    /// `STATUS_INVALID_PARAMETER` for 0; `STATUS_INVALID_HANDLE` after close.
    pub fn set_receive_backlog_limit(&self, limit: usize) -> Result<()> {
        if limit == 0 {
            return Err(NtStatus::INVALID_PARAMETER);
        }
        self.with_state(|_, _| Ok(()))?;
        self.h.shared.ledger.set_limit(limit);
        self.h.shared.provider.schedule(self.h.shared.token);
        Ok(())
    }

    /// Receive-memory figures (held, high-water mark, limit).
    pub fn stats(&self) -> ConnectionStats {
        let l = &self.h.shared.ledger;
        ConnectionStats { held: l.held(), high_water: l.high_water(), limit: l.limit() }
    }

    /// `WskCloseSocket`: cancels every pending operation (`STATUS_CANCELLED`), waits for a
    /// running callback, resets the connection unless both sides finished, then completes.
    pub fn close(&self) -> Op<()> {
        self.h.close()
    }

    /// The host descriptor (for diagnostics and fault injection).
    pub fn raw_fd(&self) -> Option<i32> {
        self.with_state(|_, c| Ok(c.io.as_ref().map(|io| io.raw_fd()))).ok().flatten()
    }
}

impl ConnState {
    /// Starts a connect of a bound socket (`WskConnect`, `WskConnectEx`).
    fn begin_connect(
        &mut self,
        token: usize,
        remote: SocketAddr,
        with_data: bool,
        id: OpId,
        done: Done<()>,
    ) -> std::result::Result<(), (NtStatus, Done<()>)> {
        if self.phase != Phase::Bound {
            return Err((NtStatus::INVALID_DEVICE_STATE, done));
        }
        if remote.is_ipv4() != self.family_of.is_ipv4() {
            return Err((NtStatus::INVALID_PARAMETER, done));
        }
        let io = self.io.as_ref().expect("bound sockets have a host socket");
        if self.fast_open {
            // With Fast Open the host holds the SYN until the first write, which a connect
            // without data never makes: that one connects the ordinary way. (Set here also
            // for a stream socket, whose bind left Fast Open for its role to decide.)
            let _ = io.set_option(&SockOpt::FastOpen(with_data));
        }
        // `WouldBlock` is a connect in progress; either way the writable report tells. With
        // Fast Open the host may defer the connect to the first write.
        let started = match io.connect(remote) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(false),
            Ok(()) => Ok(self.fast_open && with_data),
            Err(e) => Err(e),
        };
        match started.and_then(|deferred| io.register(token).map(|()| deferred)) {
            Err(e) => {
                self.phase = Phase::Failed;
                Err((NtStatus::from_io_error(&e), done))
            }
            Ok(deferred) => {
                self.phase = Phase::Connecting;
                self.connect = Some((id, done));
                self.writable = true;
                self.deferred_connect = deferred;
                Ok(())
            }
        }
    }

    pub(crate) fn option_context(&self) -> OptionContext {
        OptionContext { v6: self.family_of.is_ipv6(), bound: self.phase != Phase::Created, tcp: true }
    }

    /// In silent mode: reads and discards what arrives, indicating nothing.
    fn drop_inbound(&mut self) {
        let Some(io) = &self.io else { return };
        let mut scratch = [0u8; 16 * 1024];
        while self.readable {
            match io.read(&mut scratch) {
                Ok(0) => self.readable = false,
                Ok(_) => {}
                Err(_) => self.readable = false,
            }
        }
        self.leftover.clear();
    }

    pub(crate) fn set_option(&mut self, option: SockOpt) -> Result<()> {
        let io = self.io.as_ref().ok_or(NtStatus::INVALID_DEVICE_STATE)?;
        host_result(io.set_option(&option))?;
        match option {
            SockOpt::NoDelay(on) => {
                self.nodelay = on;
                self.nodelay_now = on;
            }
            SockOpt::FastOpen(on) => self.fast_open = on,
            _ => {}
        }
        Ok(())
    }

    pub(crate) fn get_option(&self, name: OptName) -> Result<SockOpt> {
        // As the client set them (the host's value may differ for a moment, or for good:
        // a connect without data turns Fast Open off on the host).
        match name {
            OptName::NoDelay => return Ok(SockOpt::NoDelay(self.nodelay)),
            OptName::FastOpen => return Ok(SockOpt::FastOpen(self.fast_open)),
            _ => {}
        }
        let io = self.io.as_ref().ok_or(NtStatus::INVALID_DEVICE_STATE)?;
        host_result(io.get_option(name))
    }

    fn check_can_send(&self) -> Result<()> {
        if self.phase != Phase::Connected || self.silent {
            return Err(NtStatus::INVALID_DEVICE_STATE);
        }
        if let Some(status) = self.failure {
            return Err(status);
        }
        if self.send_closed {
            return Err(NtStatus::PIPE_DISCONNECTED);
        }
        Ok(())
    }

    fn check_can_receive(&self) -> Result<()> {
        if self.phase != Phase::Connected {
            return Err(NtStatus::INVALID_DEVICE_STATE);
        }
        match self.failure {
            Some(status) if self.leftover.is_empty() => Err(status),
            _ => Ok(()),
        }
    }
}
