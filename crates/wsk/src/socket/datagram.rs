//! Datagram sockets (`WSK_PROVIDER_DATAGRAM_DISPATCH`) over host UDP.
//!
//! Reads are driven by consumers, as on connections. Pending `WskReceiveFrom` operations
//! come first (FIFO) and take one datagram each, read straight into the client's buffer
//! when it is one region. With none pending and `WskReceiveFromEvent` enabled, the
//! reactor reads datagrams into provider buffers charged to the socket's ledger and
//! indicates them in chains. With neither, datagrams stay in the host's receive queue,
//! and once that is full the host drops new ones, as UDP does: the host's drop count
//! (`SO_RXQ_OVFL`) is reported in [`DatagramStats::host_drops`] and logged.
//!
//! Sends complete once the host took the datagram; a `WskSendMessages` list goes to the
//! host through `sendmmsg`, as many datagrams per call as the host takes.
//!
//! `SIO_WSK_SET_REMOTE_ADDRESS` connects the host socket, so the host itself discards
//! datagrams from other sources; datagrams that were queued before are filtered here.

use std::collections::VecDeque;
use std::io::{self, IoSlice};
use std::net::SocketAddr;
use std::sync::Arc;

use wsk_core::backend::{Datagram as HostDatagram, Readiness, UdpSocket};
use wsk_core::cmsg::{self, msg, ControlMessage};
use wsk_core::consts::event_flags;
use wsk_core::consts::events::WSK_EVENT_RECEIVE_FROM;
use wsk_core::event::Category;
use wsk_core::irp::{OpId, OpQueue};
use wsk_core::option::{Membership, OptName, SockOpt};
use wsk_core::status::NtStatus;

use super::control::socket_control;
use super::options::{host_result, OptionContext};
use super::{Common, Handle, Kind, SocketShared, SocketState};
use crate::buffer::{copy_into, ReceiveBuffer, SendBuffer};
use crate::callbacks::{DatagramEvents, EventFlags, ReceiveFromOutcome};
use crate::datagram_indication::{DatagramIndication, IndicatedDatagram};
use crate::indication::BUFFER_SIZE;
use crate::op::{Canceller, Done, Op, Result};
use crate::registration::RegInner;

/// Most datagrams one indication chain carries.
const MAX_CHAIN: usize = 64;
/// Datagrams up to this size are moved out of their pooled 64 KiB block into an
/// allocation of their own size (see [`IndicationBuffer`](crate::IndicationBuffer)).
const COMPACT_MAX: usize = BUFFER_SIZE / 2;
/// What a compacted datagram costs the ledger besides its bytes: the element's
/// bookkeeping (buffer, address, control list; a C client's indication element).
pub(crate) const DATAGRAM_OVERHEAD: usize = 256;
/// Consecutive transient host errors a read tolerates before the socket is declared dead.
const MAX_HOST_ERRORS: usize = 64;

type ReceiveFromDone = Box<dyn FnOnce(Result<ReceiveFromInfo>, Box<dyn ReceiveBuffer>) + Send>;

/// How a `WskReceiveFrom` completed: what its IRP and out-parameters carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiveFromInfo {
    /// Bytes written into the buffer (`IoStatus.Information`); less than the datagram
    /// when it was truncated.
    pub bytes: usize,
    /// The sender (`RemoteAddress`).
    pub remote: SocketAddr,
    /// Control information that fit the control buffer (`ControlInfo`; its encoded size
    /// is the `*ControlLength` returned).
    pub control: Vec<ControlMessage>,
    /// `*ControlFlags`: `MSG_TRUNC`, `MSG_CTRUNC`, `MSG_BCAST`, `MSG_MCAST`.
    pub flags: u32,
}

impl ReceiveFromInfo {
    /// `MSG_TRUNC`: the datagram was larger than the buffer; the rest was discarded.
    pub fn truncated(&self) -> bool {
        self.flags & msg::MSG_TRUNC != 0
    }

    /// `MSG_CTRUNC`: some control information did not fit the control buffer.
    pub fn control_truncated(&self) -> bool {
        self.flags & msg::MSG_CTRUNC != 0
    }

    /// `MSG_BCAST`: the datagram was sent to a broadcast address.
    pub fn broadcast(&self) -> bool {
        self.flags & msg::MSG_BCAST != 0
    }

    /// `MSG_MCAST`: the datagram was sent to a multicast group.
    pub fn multicast(&self) -> bool {
        self.flags & msg::MSG_MCAST != 0
    }

    /// The control information in the Windows `CMSGHDR` layout, as `ControlInfo` holds it.
    pub fn control_bytes(&self) -> Vec<u8> {
        cmsg::encode(&self.control)
    }
}

/// A datagram received by [`DatagramSocket::receive_from`]: its bytes and the rest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedDatagram {
    /// The bytes received (truncated to the requested length).
    pub data: Vec<u8>,
    /// Sender, control information and flags.
    pub info: ReceiveFromInfo,
}

/// Receive figures of one datagram socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DatagramStats {
    /// Bytes of provider receive buffers held now (queued and retained datagrams).
    pub held: usize,
    /// The most ever held at once.
    pub high_water: usize,
    /// The receive backlog limit past which the provider stops reading the host socket.
    pub limit: usize,
    /// Datagrams the provider took from the host.
    pub received: u64,
    /// Datagrams the host dropped on this socket because its receive queue was full
    /// (`SO_RXQ_OVFL`), as of the last datagram read.
    pub host_drops: u64,
    /// Datagrams read from the host and not delivered yet (refused by the event callback).
    pub queued: usize,
}

struct PendingSend {
    datagrams: Vec<Box<dyn SendBuffer>>,
    /// Leading datagrams the host already took.
    sent: usize,
    bytes: usize,
    to: Option<SocketAddr>,
    control: Vec<ControlMessage>,
    done: Done<usize>,
}

struct PendingReceive {
    buf: Box<dyn ReceiveBuffer>,
    control_capacity: usize,
    done: ReceiveFromDone,
}

pub(crate) struct DgramState {
    family_of: SocketAddr,
    io: Option<Box<dyn UdpSocket>>,
    bound: bool,
    local: Option<SocketAddr>,
    /// `SIO_WSK_SET_REMOTE_ADDRESS`: the host socket is connected to it.
    remote: Option<SocketAddr>,
    /// `SIO_WSK_SET_SENDTO_ADDRESS`: the destination of sends without an address.
    sendto: Option<SocketAddr>,
    handler: Option<Arc<dyn DatagramEvents>>,
    sends: OpQueue<PendingSend>,
    receives: OpQueue<PendingReceive>,
    /// Datagrams read from the host and not delivered (a refused indication's).
    queued: VecDeque<IndicatedDatagram>,
    readable: bool,
    writable: bool,
    /// Writable reports are on (a send met a full buffer): see `UdpSocket::watch_writable`.
    watching_writes: bool,
    /// An ICMP error (port or host unreachable) a host read returned: the next send's answer.
    icmp_report: Option<NtStatus>,
    /// An indication is in the client's hands: refused datagrams may come back and go
    /// first, so receives wait for it.
    indication_out: bool,
    /// A static `WskReceiveFromEvent` refused the queued datagrams: it is called again
    /// only once new datagrams arrive.
    refused: bool,
    /// `IP_PKTINFO` / `IPV6_PKTINFO` as the client set it (the host always reports it).
    packet_info: bool,
    /// The socket is dead (a fatal host error): every receive fails with it.
    failure: Option<NtStatus>,
    failure_indicated: bool,
    received: u64,
    host_drops: u32,
}

impl DgramState {
    fn new(family_of: SocketAddr, io: Box<dyn UdpSocket>, handler: Option<Arc<dyn DatagramEvents>>) -> Self {
        DgramState {
            family_of,
            io: Some(io),
            bound: false,
            local: None,
            remote: None,
            sendto: None,
            handler,
            sends: OpQueue::default(),
            receives: OpQueue::default(),
            queued: VecDeque::new(),
            readable: false,
            writable: false,
            watching_writes: false,
            icmp_report: None,
            indication_out: false,
            refused: false,
            packet_info: false,
            failure: None,
            failure_indicated: false,
            received: 0,
            host_drops: 0,
        }
    }

    pub(crate) fn is_bound(&self) -> bool {
        self.bound
    }

    pub(crate) fn readiness(&mut self, r: Readiness) {
        if r.readable || r.read_closed || r.error {
            self.readable = true;
        }
        if r.writable || r.write_closed || r.error {
            self.writable = true;
        }
    }

    /// `WskReceiveFromEvent` was enabled (again): a refusal no longer holds it back.
    pub(crate) fn events_enabled(&mut self, mask: u32) {
        if mask & WSK_EVENT_RECEIVE_FROM != 0 {
            self.refused = false;
        }
    }

    pub(crate) fn option_context(&self) -> OptionContext {
        OptionContext { v6: self.family_of.is_ipv6(), bound: self.bound, tcp: false }
    }

    pub(crate) fn set_option(&mut self, option: SockOpt) -> Result<()> {
        match option {
            // The host reports packet information for every datagram (it tells broadcast
            // and multicast apart); the option decides whether the client sees it.
            SockOpt::PacketInfo(on) => {
                self.packet_info = on;
                Ok(())
            }
            SockOpt::AddMembership(m) | SockOpt::DropMembership(m) => {
                if matches!(m, Membership::V6 { .. }) != self.family_of.is_ipv6() {
                    return Err(NtStatus::INVALID_PARAMETER);
                }
                let group_ok = match m {
                    Membership::V4 { group, .. } => group.is_multicast(),
                    Membership::V6 { group, .. } => group.is_multicast(),
                };
                if !group_ok {
                    return Err(NtStatus::INVALID_PARAMETER);
                }
                let io = self.io.as_ref().ok_or(NtStatus::INVALID_DEVICE_STATE)?;
                host_result(io.set_option(&option))
            }
            _ => {
                let io = self.io.as_ref().ok_or(NtStatus::INVALID_DEVICE_STATE)?;
                host_result(io.set_option(&option))
            }
        }
    }

    pub(crate) fn get_option(&self, name: OptName) -> Result<SockOpt> {
        if name == OptName::PacketInfo {
            return Ok(SockOpt::PacketInfo(self.packet_info));
        }
        let io = self.io.as_ref().ok_or(NtStatus::INVALID_DEVICE_STATE)?;
        host_result(io.get_option(name))
    }

    /// Makes all the progress the host allows; returns whether the reactor should look
    /// (an event callback is due and this is not the reactor thread).
    pub(crate) fn drive(&mut self, shared: &Arc<SocketShared>, common: &mut Common, on_reactor: bool) -> bool {
        if !self.bound || self.io.is_none() {
            return false;
        }
        self.pump_sends(shared.token, common);
        self.pump_receives(shared, common);
        self.events(shared, common, on_reactor)
    }

    fn pump_sends(&mut self, token: usize, common: &mut Common) {
        if self.watching_writes && self.writable {
            // The buffer has room again: back to read reports only.
            self.watching_writes = false;
            if let Some(io) = &self.io {
                let _ = io.watch_writable(token, false);
            }
        }
        while self.writable {
            let Some(head) = self.sends.front_mut() else { return };
            if head.sent == head.datagrams.len() {
                let s = self.sends.pop_front().expect("front exists");
                common.complete(s.done, Ok(s.bytes));
                continue;
            }
            if head.sent == 0 {
                if let Some(status) = self.icmp_report.take() {
                    // The host reports an ICMP error once, to whichever call comes first; a
                    // receive that met it left it for the next send, as a send would have.
                    let s = self.sends.pop_front().expect("front exists");
                    common.complete(s.done, Err(status));
                    continue;
                }
            }
            let Some(io) = &self.io else { return };
            let result = {
                let slices: Vec<Vec<IoSlice<'_>>> =
                    head.datagrams[head.sent..].iter().map(|d| regions(d.as_ref())).collect();
                if slices.len() == 1 {
                    io.send_to(&slices[0], head.to, &head.control).map(|_| 1)
                } else {
                    let refs: Vec<&[IoSlice<'_>]> = slices.iter().map(Vec::as_slice).collect();
                    io.send_batch(&refs, head.to, &head.control)
                }
            };
            match result {
                Ok(n) => {
                    let pending = &head.datagrams[head.sent..];
                    let n = n.clamp(1, pending.len());
                    head.bytes += pending[..n].iter().map(|d| d.len()).sum::<usize>();
                    head.sent += n;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.writable = false;
                    // A writable report follows once the host has room.
                    self.watching_writes = true;
                    if let Err(e) = io.watch_writable(token, true) {
                        // Without a report the send would wait forever: it fails instead.
                        tracing::warn!(socket = token, error = %e, "cannot watch a datagram socket for room");
                        let s = self.sends.pop_front().expect("front exists");
                        let status = NtStatus::from_io_error(&e);
                        common.complete(s.done, if s.sent > 0 { Ok(s.bytes) } else { Err(status) });
                    }
                }
                Err(e) => {
                    // Datagrams already sent cannot be recalled: a list that failed part way
                    // completes with the bytes sent; one that sent nothing, with the error.
                    let s = self.sends.pop_front().expect("front exists");
                    let status = NtStatus::from_io_error(&e);
                    tracing::debug!(%status, to = ?s.to, "datagram send failed");
                    common.complete(s.done, if s.sent > 0 { Ok(s.bytes) } else { Err(status) });
                }
            }
        }
    }

    fn pump_receives(&mut self, shared: &Arc<SocketShared>, common: &mut Common) {
        if self.indication_out {
            return;
        }
        let mut errors = 0;
        while !self.receives.is_empty() {
            if let Some(d) = self.queued.pop_front() {
                let r = self.receives.pop_front().expect("not empty");
                self.complete_from_queue(common, r, d);
                continue;
            }
            if let Some(status) = self.failure {
                let r = self.receives.pop_front().expect("not empty");
                common.completion(move || (r.done)(Err(status), r.buf));
                continue;
            }
            if !self.readable {
                return;
            }
            let Some(io) = &self.io else { return };
            let head = self.receives.front_mut().expect("not empty");
            let capacity = head.buf.capacity();
            // One region (a Vec, a single MDL) is read into directly; a chain of regions
            // through a scratch block, then copied across them.
            let direct = head.buf.region(0).len() == capacity;
            let mut scratch = if direct { Vec::new() } else { vec![0u8; BUFFER_SIZE] };
            let result = if direct {
                io.recv_from(head.buf.region(0))
            } else {
                io.recv_from(&mut scratch[..capacity.min(BUFFER_SIZE)])
            };
            match result {
                Ok(d) => {
                    errors = 0;
                    if !self.admit(shared, &d) {
                        continue;
                    }
                    let mut r = self.receives.pop_front().expect("not empty");
                    let bytes = d.len.min(capacity);
                    if !direct {
                        copy_into(r.buf.as_mut(), 0, &scratch[..bytes]);
                    }
                    let mut flags = class_of(&d);
                    if d.truncated || d.len > capacity {
                        flags |= msg::MSG_TRUNC;
                    }
                    let info = self.info(bytes, d.source, d.control, d.control_truncated, flags, r.control_capacity);
                    common.completion(move || (r.done)(Ok(info), r.buf));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.readable = false;
                    return;
                }
                Err(e) => {
                    errors += 1;
                    if !self.host_error(common, &e, errors) {
                        return;
                    }
                }
            }
        }
    }

    /// A host read error: transient ones (ICMP reports such as `ECONNREFUSED` on a
    /// connected socket, resource shortages) are skipped; returns whether to read on.
    fn host_error(&mut self, common: &mut Common, e: &io::Error, count: usize) -> bool {
        use wsk_core::status::errno::*;
        let fatal = matches!(e.raw_os_error(), Some(EBADF | ENOTSOCK | EFAULT));
        if !fatal && count < MAX_HOST_ERRORS {
            tracing::debug!(error = %e, "datagram receive: host error skipped");
            if matches!(e.raw_os_error(), Some(ECONNREFUSED | EHOSTUNREACH | ENETUNREACH | EHOSTDOWN)) {
                // An ICMP report the read took from the host: it is the next send's.
                self.icmp_report = Some(NtStatus::from_io_error(e));
            }
            return true;
        }
        self.fail(common, NtStatus::from_io_error(e));
        false
    }

    fn fail(&mut self, common: &mut Common, status: NtStatus) {
        if self.failure.is_some() {
            return;
        }
        tracing::warn!(local = ?self.local, %status, "datagram socket failed");
        self.failure = Some(status);
        self.readable = false;
        while let Some(r) = self.receives.pop_front() {
            common.completion(move || (r.done)(Err(status), r.buf));
        }
    }

    /// Takes note of a datagram read from the host (the host's drop count, the count of
    /// datagrams received); whether it is for the client (see [`DgramState::accepts`]).
    fn admit(&mut self, shared: &Arc<SocketShared>, d: &HostDatagram) -> bool {
        self.note_host_drops(shared, d.host_drops);
        if !self.accepts(d) {
            return false;
        }
        self.received += 1;
        true
    }

    /// Whether a datagram from the host is for the client: with a fixed remote address,
    /// only that sender's (the host filters once connected; this catches datagrams it
    /// queued before).
    fn accepts(&self, d: &HostDatagram) -> bool {
        match self.remote {
            Some(r) => same_endpoint(r, d.source),
            None => true,
        }
    }

    fn note_host_drops(&mut self, shared: &Arc<SocketShared>, total: Option<u32>) {
        let Some(total) = total else { return };
        let new = total.wrapping_sub(self.host_drops);
        if new != 0 && total != 0 {
            tracing::warn!(
                socket = shared.token,
                dropped = new,
                total,
                "the host dropped datagrams: the socket's receive queue was full"
            );
        }
        self.host_drops = total;
    }

    /// The control information the client sees: packet information only if it asked.
    fn visible_control(&self, control: Vec<ControlMessage>) -> Vec<ControlMessage> {
        if self.packet_info {
            return control;
        }
        control.into_iter().filter(|m| !matches!(m, ControlMessage::PacketInfo { .. })).collect()
    }

    fn info(
        &self,
        bytes: usize,
        remote: SocketAddr,
        control: Vec<ControlMessage>,
        host_ctrunc: bool,
        mut flags: u32,
        capacity: usize,
    ) -> ReceiveFromInfo {
        let (control, ctrunc) = cmsg::fit(self.visible_control(control), capacity);
        if ctrunc || host_ctrunc {
            flags |= msg::MSG_CTRUNC;
        }
        ReceiveFromInfo { bytes, remote, control, flags }
    }

    fn complete_from_queue(&mut self, common: &mut Common, mut r: PendingReceive, d: IndicatedDatagram) {
        let capacity = r.buf.capacity();
        let bytes = copy_into(r.buf.as_mut(), 0, d.data());
        let mut flags = d.class();
        if d.len() > capacity {
            flags |= msg::MSG_TRUNC;
        }
        // Queued datagrams hold the control information the client saw when they were read.
        let (control, ctrunc) = cmsg::fit(d.control().to_vec(), r.control_capacity);
        if ctrunc {
            flags |= msg::MSG_CTRUNC;
        }
        let info = ReceiveFromInfo { bytes, remote: d.remote(), control, flags };
        drop(d);
        common.completion(move || (r.done)(Ok(info), r.buf));
    }

    fn events(&mut self, shared: &Arc<SocketShared>, common: &mut Common, on_reactor: bool) -> bool {
        let Some(handler) = self.handler.clone() else {
            return false;
        };
        if common.event_in_flight() || common.closed || !common.events.is_enabled(WSK_EVENT_RECEIVE_FROM) {
            return false;
        }
        if self.failure.is_some() && self.queued.is_empty() {
            if !self.failure_indicated {
                if !on_reactor {
                    return true;
                }
                self.indicate_failure(common, handler);
            }
            return false;
        }
        if !self.receives.is_empty() || self.indication_out {
            return false;
        }
        let can_read = self.readable && shared.ledger.has_room();
        if !can_read && (self.queued.is_empty() || self.refused) {
            return false;
        }
        if !on_reactor {
            return true;
        }
        let fresh = self.read_queue(shared, common);
        if self.failure.is_some() && self.queued.is_empty() {
            // The read found the socket dead.
            self.indicate_failure(common, handler);
            return false;
        }
        if self.refused && fresh == 0 {
            return false;
        }
        self.refused = false;
        // One chain carries datagrams of one class (MSG_BCAST / MSG_MCAST are flags of
        // the whole indication).
        let Some(class) = self.queued.front().map(IndicatedDatagram::class) else {
            return false;
        };
        let mut chain = Vec::new();
        while chain.len() < MAX_CHAIN && self.queued.front().is_some_and(|d| d.class() == class) {
            chain.push(self.queued.pop_front().expect("front exists"));
        }
        let mut flags = class;
        if shared.ledger.short() {
            flags |= event_flags::WSK_FLAG_RELEASE_ASAP;
        }
        self.indication_out = true;
        let socket = Arc::clone(shared);
        common.event(WSK_EVENT_RECEIVE_FROM, move || {
            // A panicking handler counts as not accepting: nothing is lost.
            super::run_receive_callback(
                DatagramIndication::new(chain),
                |indication| handler.on_receive_from(Some(indication), EventFlags(flags)),
                ReceiveFromOutcome::NotAccepted,
                |outcome, indication| socket.receive_from_event_returned(outcome, indication),
            );
        });
        false
    }

    /// `WskReceiveFromEvent` with no indication: the socket is no longer functional (once).
    fn indicate_failure(&mut self, common: &mut Common, handler: Arc<dyn DatagramEvents>) {
        self.failure_indicated = true;
        common.event(WSK_EVENT_RECEIVE_FROM, move || {
            let _ = handler.on_receive_from(None, EventFlags::default());
        });
    }

    /// Reads datagrams from the host into provider buffers, as long as the receive
    /// backlog allows; returns how many.
    fn read_queue(&mut self, shared: &Arc<SocketShared>, common: &mut Common) -> usize {
        let mut fresh = 0;
        let mut errors = 0;
        while self.readable && self.queued.len() < MAX_CHAIN && shared.ledger.has_room() {
            let Some(io) = &self.io else { break };
            let mut buf = shared.ledger.allocate();
            match io.recv_from(buf.spare()) {
                Ok(d) => {
                    errors = 0;
                    if !self.admit(shared, &d) {
                        continue;
                    }
                    fresh += 1;
                    buf.set_filled(d.len.min(BUFFER_SIZE));
                    let buf = buf.compact(COMPACT_MAX, DATAGRAM_OVERHEAD);
                    let flags = class_of(&d);
                    let control = self.visible_control(d.control);
                    self.queued.push_back(IndicatedDatagram::new(buf, d.source, control, flags));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.readable = false,
                Err(e) => {
                    errors += 1;
                    if !self.host_error(common, &e, errors) {
                        break;
                    }
                }
            }
        }
        fresh
    }

    /// Applies a `WskReceiveFromEvent` outcome; returns what is released.
    fn indication_returned(
        &mut self,
        common: &mut Common,
        outcome: ReceiveFromOutcome,
        indication: DatagramIndication,
    ) -> Vec<IndicatedDatagram> {
        self.indication_out = false;
        let chain = indication.into_chain();
        if outcome != ReceiveFromOutcome::NotAccepted {
            return chain;
        }
        // STATUS_DATA_NOT_ACCEPTED: the datagrams stay first in line for WskReceiveFrom.
        for d in chain.into_iter().rev() {
            self.queued.push_front(d);
        }
        // A dynamically enabled event is disabled; a static one cannot be (and stays on).
        if common.events.disable(WSK_EVENT_RECEIVE_FROM).is_err() {
            self.refused = true;
        }
        Vec::new()
    }

    pub(crate) fn cancel(&mut self, common: &mut Common, id: OpId) -> bool {
        if let Some(s) = self.sends.remove(id) {
            // Datagrams of a list already sent stay sent: report them.
            common.complete(s.done, if s.sent > 0 { Ok(s.bytes) } else { Err(NtStatus::CANCELLED) });
            return true;
        }
        if let Some(r) = self.receives.remove(id) {
            common.completion(move || (r.done)(Err(NtStatus::CANCELLED), r.buf));
            return true;
        }
        false
    }

    pub(crate) fn close(&mut self, common: &mut Common) {
        while let Some(s) = self.sends.pop_front() {
            common.complete(s.done, Err(NtStatus::CANCELLED));
        }
        while let Some(r) = self.receives.pop_front() {
            common.completion(move || (r.done)(Err(NtStatus::CANCELLED), r.buf));
        }
        self.queued.clear();
        self.io = None;
        self.handler = None;
    }
}

/// `MSG_BCAST` / `MSG_MCAST` of a host datagram.
fn class_of(d: &HostDatagram) -> u32 {
    let mut flags = 0;
    if d.broadcast {
        flags |= msg::MSG_BCAST;
    }
    if d.multicast {
        flags |= msg::MSG_MCAST;
    }
    flags
}

/// The same address and port (IPv6 flow information and scope aside).
fn same_endpoint(a: SocketAddr, b: SocketAddr) -> bool {
    a.ip() == b.ip() && a.port() == b.port()
}

/// The regions of a send buffer, in order.
fn regions(buf: &dyn SendBuffer) -> Vec<IoSlice<'_>> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < buf.len() {
        let region = buf.region(at);
        if region.is_empty() {
            break;
        }
        at += region.len();
        out.push(IoSlice::new(region));
    }
    out
}

impl SocketShared {
    fn receive_from_event_returned(self: &Arc<Self>, outcome: ReceiveFromOutcome, indication: DatagramIndication) {
        let mut st = self.lock();
        let SocketState { common, kind } = &mut *st;
        let released = match kind {
            Kind::Datagram(d) if !common.closed => d.indication_returned(common, outcome, indication),
            _ => indication.into_chain(),
        };
        drop(st);
        // Buffers go back to the pool with no lock held.
        drop(released);
    }
}

/// A datagram socket (`WSK_FLAG_DATAGRAM_SOCKET`, UDP).
///
/// Handles are cheap to clone; the socket closes on [`DatagramSocket::close`], or when
/// the last handle is dropped. Operations return an [`Op`] or take a completion routine
/// (`*_then`). Standard options (`SO_BROADCAST`, `IP_PKTINFO`, memberships, `SO_RCVBUF`,
/// ...) go through [`SocketControl`](crate::SocketControl); the typed methods here are
/// shorthands for them.
///
/// ```
/// # fn main() -> Result<(), wsk::NtStatus> {
/// let registration = wsk::Registration::new()?;
/// let npi = registration.capture(wsk::Wait::Infinite)?;
/// let any = "127.0.0.1:0".parse().unwrap();
/// let a = npi.datagram_socket(any, None).wait()?;
/// let b = npi.datagram_socket(any, None).wait()?;
/// a.bind(any).wait()?;
/// b.bind(any).wait()?;
/// let received = b.receive_from(1500, 0);
/// assert_eq!(a.send_to(b"ping".to_vec(), Some(b.local_addr()?), vec![]).wait()?, 4);
/// let d = received.wait()?;
/// assert_eq!((d.data.as_slice(), d.info.remote), (&b"ping"[..], a.local_addr()?));
/// a.close().wait()?;
/// b.close().wait()?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct DatagramSocket {
    pub(crate) h: Arc<Handle>,
}

impl std::fmt::Debug for DatagramSocket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DatagramSocket").field("token", &self.h.shared.token).finish()
    }
}

socket_control!(DatagramSocket);

impl DatagramSocket {
    pub(crate) fn create(
        reg: &Arc<RegInner>,
        family_of: SocketAddr,
        handler: Option<Arc<dyn DatagramEvents>>,
    ) -> Result<DatagramSocket> {
        let provider = &reg.provider.inner;
        let io = provider.backend.udp_socket(&family_of).map_err(|e| match e.kind() {
            io::ErrorKind::Unsupported => NtStatus::NOT_SUPPORTED,
            _ => NtStatus::from_io_error(&e),
        })?;
        let state = DgramState::new(family_of, io, handler);
        let shared = SocketShared::open(reg, Category::Datagram, None, Kind::Datagram(state))?;
        Ok(DatagramSocket { h: Handle::new(shared) })
    }

    fn with_state<R>(&self, f: impl FnOnce(&mut Common, &mut DgramState) -> Result<R>) -> Result<R> {
        self.h.with_state(f)
    }

    fn start<T: Send + 'static>(
        &self,
        done: Done<T>,
        start: impl FnOnce(&mut Common, &mut DgramState, OpId, Done<T>) -> std::result::Result<(), (NtStatus, Done<T>)>,
    ) -> Option<OpId> {
        self.h.start(done, start)
    }

    fn op<T: Send + 'static>(
        &self,
        start: impl FnOnce(&mut Common, &mut DgramState, OpId, Done<T>) -> std::result::Result<(), (NtStatus, Done<T>)>,
    ) -> Op<T> {
        self.h.op(start)
    }

    /// `WskBind`: binds to a local address; a wildcard address receives on every local
    /// address (and sends from the routed one), port 0 lets the host pick the port.
    /// Sends, receives, `set_remote_address`, `set_sendto_address` and events need it.
    ///
    /// Fails with `STATUS_INVALID_DEVICE_STATE` when already bound,
    /// `STATUS_INVALID_PARAMETER` for the other family, `STATUS_ADDRESS_ALREADY_ASSOCIATED`
    /// when the address is taken, `STATUS_INVALID_ADDRESS_COMPONENT` for an address that is
    /// not local.
    pub fn bind(&self, addr: SocketAddr) -> Op<()> {
        let token = self.h.shared.token;
        self.op(move |common, d, _, done| {
            if d.bound {
                return Err((NtStatus::INVALID_DEVICE_STATE, done));
            }
            if addr.is_ipv4() != d.family_of.is_ipv4() {
                return Err((NtStatus::INVALID_PARAMETER, done));
            }
            let io = d.io.as_ref().expect("open sockets have a host socket");
            if let Err(e) = io.bind(addr).and_then(|()| io.register(token)) {
                return Err((NtStatus::from_io_error(&e), done));
            }
            d.local = io.local_addr().ok();
            d.bound = true;
            d.readable = true;
            d.writable = true;
            tracing::debug!(socket = token, local = ?d.local, "datagram socket bound");
            common.complete(done, Ok(()));
            Ok(())
        })
    }

    /// `WskGetLocalAddress`: the bound address (the port the host picked for port 0).
    ///
    /// # Errors
    /// `STATUS_INVALID_DEVICE_STATE` before bind; `STATUS_INVALID_HANDLE` after close.
    pub fn local_addr(&self) -> Result<SocketAddr> {
        self.with_state(|_, d| d.local.ok_or(NtStatus::INVALID_DEVICE_STATE))
    }

    /// `WskSendTo`: sends one datagram to `remote`, or — when `None` — to the address of
    /// `SIO_WSK_SET_SENDTO_ADDRESS`, else of `SIO_WSK_SET_REMOTE_ADDRESS`. `control` is the
    /// control information (e.g. [`ControlMessage::PacketInfo`] to choose the source
    /// address and interface; messages the host has no counterpart for are not sent).
    /// Completes with the bytes sent once the host took the datagram.
    ///
    /// Fails with `STATUS_INVALID_DEVICE_STATE` before bind, `STATUS_INVALID_PARAMETER`
    /// without any destination or with one of the other family, and the host's refusal:
    /// `STATUS_ACCESS_DENIED` for a broadcast address without `SO_BROADCAST`,
    /// `STATUS_BUFFER_OVERFLOW` for a datagram larger than UDP allows,
    /// `STATUS_CONNECTION_REFUSED` on a fixed remote whose port is closed (reported by a
    /// later send), `STATUS_INVALID_PARAMETER` / `STATUS_INVALID_ADDRESS_COMPONENT` for
    /// packet information naming a source that is not local.
    pub fn send_to(
        &self,
        data: impl SendBuffer,
        remote: Option<SocketAddr>,
        control: Vec<ControlMessage>,
    ) -> Op<usize> {
        let (op, done) = Op::new();
        match self.send_with(vec![Box::new(data)], remote, control, done) {
            Some(id) => op.cancellable(&self.h.shared, id),
            None => op,
        }
    }

    /// [`DatagramSocket::send_to`] with a completion routine; returns a [`Canceller`]
    /// while the send is pending.
    pub fn send_to_then(
        &self,
        data: Box<dyn SendBuffer>,
        remote: Option<SocketAddr>,
        control: Vec<ControlMessage>,
        done: impl FnOnce(Result<usize>) + Send + 'static,
    ) -> Option<Canceller> {
        self.send_with(vec![data], remote, control, Box::new(done)).map(|id| Canceller::new(&self.h.shared, id))
    }

    /// `WskSendMessages`: sends each buffer as one datagram, all to the same destination
    /// (as [`DatagramSocket::send_to`] chooses it) with the same control information, as
    /// a batch (`sendmmsg`). Completes with the total bytes once the host took them all.
    /// Cancelled or failed part way, it completes with the bytes of the datagrams
    /// already sent (they cannot be recalled); with nothing sent, with the status.
    ///
    /// Fails as [`DatagramSocket::send_to`], and with `STATUS_INVALID_PARAMETER` for an
    /// empty list.
    pub fn send_messages(
        &self,
        datagrams: Vec<Box<dyn SendBuffer>>,
        remote: Option<SocketAddr>,
        control: Vec<ControlMessage>,
    ) -> Op<usize> {
        let (op, done) = Op::new();
        match self.send_with(datagrams, remote, control, done) {
            Some(id) => op.cancellable(&self.h.shared, id),
            None => op,
        }
    }

    /// [`DatagramSocket::send_messages`] with a completion routine.
    pub fn send_messages_then(
        &self,
        datagrams: Vec<Box<dyn SendBuffer>>,
        remote: Option<SocketAddr>,
        control: Vec<ControlMessage>,
        done: impl FnOnce(Result<usize>) + Send + 'static,
    ) -> Option<Canceller> {
        self.send_with(datagrams, remote, control, Box::new(done)).map(|id| Canceller::new(&self.h.shared, id))
    }

    fn send_with(
        &self,
        datagrams: Vec<Box<dyn SendBuffer>>,
        remote: Option<SocketAddr>,
        control: Vec<ControlMessage>,
        done: Done<usize>,
    ) -> Option<OpId> {
        self.start(done, move |_, d, id, done| {
            if !d.bound {
                return Err((NtStatus::INVALID_DEVICE_STATE, done));
            }
            if datagrams.is_empty() {
                return Err((NtStatus::INVALID_PARAMETER, done));
            }
            // A given address overrides; then the sendto address; then the fixed remote
            // (the host socket is connected to it: no address needed).
            let to = match (remote, d.sendto, d.remote) {
                (Some(a), _, _) | (None, Some(a), _) => Some(a),
                (None, None, Some(_)) => None,
                (None, None, None) => return Err((NtStatus::INVALID_PARAMETER, done)),
            };
            if to.is_some_and(|a| a.is_ipv4() != d.family_of.is_ipv4()) {
                return Err((NtStatus::INVALID_PARAMETER, done));
            }
            d.sends.push(id, PendingSend { datagrams, sent: 0, bytes: 0, to, control, done });
            Ok(())
        })
    }

    /// `WskReceiveFrom` into a fresh buffer of `len` bytes, with room for
    /// `control_capacity` bytes of control information (in the Windows `CMSGHDR` layout;
    /// 0 for none): completes with one datagram, truncated to `len` (`MSG_TRUNC` then).
    pub fn receive_from(&self, len: usize, control_capacity: usize) -> Op<ReceivedDatagram> {
        let (op, done) = Op::new();
        let buf: Box<dyn ReceiveBuffer> = Box::new(vec![0u8; len]);
        let id = self.receive_with(
            buf,
            control_capacity,
            Box::new(move |r, buf| {
                let out = r.map(|info| {
                    let mut data = *buf.into_any().downcast::<Vec<u8>>().expect("a Vec went in");
                    data.truncate(info.bytes);
                    ReceivedDatagram { data, info }
                });
                done(out)
            }),
        );
        match id {
            Some(id) => op.cancellable(&self.h.shared, id),
            None => op,
        }
    }

    /// `WskReceiveFrom` with a completion routine that gets the caller's buffer back.
    /// Pending receives take datagrams before `WskReceiveFromEvent` does, in the order
    /// they were posted. With a fixed remote address only its datagrams are received.
    ///
    /// Fails with `STATUS_INVALID_DEVICE_STATE` before bind, `STATUS_CANCELLED` when
    /// cancelled or closed, the socket's failure status once it died.
    pub fn receive_from_then(
        &self,
        buf: Box<dyn ReceiveBuffer>,
        control_capacity: usize,
        done: impl FnOnce(Result<ReceiveFromInfo>, Box<dyn ReceiveBuffer>) + Send + 'static,
    ) -> Option<Canceller> {
        self.receive_with(buf, control_capacity, Box::new(done)).map(|id| Canceller::new(&self.h.shared, id))
    }

    fn receive_with(
        &self,
        buf: Box<dyn ReceiveBuffer>,
        control_capacity: usize,
        done: ReceiveFromDone,
    ) -> Option<OpId> {
        let shared = &self.h.shared;
        let mut st = shared.lock();
        let SocketState { common, kind } = &mut *st;
        let status = if common.closed {
            NtStatus::INVALID_HANDLE
        } else {
            match kind {
                Kind::Datagram(d) if !d.bound => NtStatus::INVALID_DEVICE_STATE,
                Kind::Datagram(d) => match d.failure {
                    Some(status) if d.queued.is_empty() => status,
                    _ => {
                        let id = common.next_id();
                        d.receives.push(id, PendingReceive { buf, control_capacity, done });
                        shared.run(st);
                        return Some(id);
                    }
                },
                _ => NtStatus::INVALID_DEVICE_REQUEST,
            }
        };
        st.common.completion(move || done(Err(status), buf));
        shared.run(st);
        None
    }

    /// `SIO_WSK_SET_REMOTE_ADDRESS` (after bind): sends without an address go to `remote`,
    /// and only datagrams from it are received (the host socket is connected to it).
    /// `None` clears it (`InputSize` 0).
    ///
    /// Fails with `STATUS_INVALID_DEVICE_STATE` before bind, `STATUS_INVALID_PARAMETER`
    /// for the other family, the host's refusal.
    pub fn set_remote_address(&self, remote: Option<SocketAddr>) -> Op<()> {
        self.op(move |common, d, _, done| {
            if !d.bound {
                return Err((NtStatus::INVALID_DEVICE_STATE, done));
            }
            if remote.is_some_and(|a| a.is_ipv4() != d.family_of.is_ipv4()) {
                return Err((NtStatus::INVALID_PARAMETER, done));
            }
            let io = d.io.as_ref().expect("open sockets have a host socket");
            let result = match remote {
                Some(a) => io.connect(a),
                None if d.remote.is_some() => io.disconnect(),
                None => Ok(()),
            };
            if let Err(e) = result {
                if remote.is_none() {
                    // The association may be gone even though re-binding its port failed
                    // (another socket took it): the filter and default destination are too.
                    d.remote = None;
                }
                return Err((NtStatus::from_io_error(&e), done));
            }
            d.remote = remote;
            if let Some(r) = remote {
                d.queued.retain(|q| same_endpoint(r, q.remote()));
            }
            common.complete(done, Ok(()));
            Ok(())
        })
    }

    /// `SIO_WSK_SET_SENDTO_ADDRESS` (after bind): the destination of sends without an
    /// address; datagrams are still received from anyone. `None` clears it.
    ///
    /// Fails with `STATUS_INVALID_DEVICE_STATE` before bind, `STATUS_INVALID_PARAMETER`
    /// for the other family.
    pub fn set_sendto_address(&self, remote: Option<SocketAddr>) -> Op<()> {
        self.op(move |common, d, _, done| {
            if !d.bound {
                return Err((NtStatus::INVALID_DEVICE_STATE, done));
            }
            if remote.is_some_and(|a| a.is_ipv4() != d.family_of.is_ipv4()) {
                return Err((NtStatus::INVALID_PARAMETER, done));
            }
            d.sendto = remote;
            common.complete(done, Ok(()));
            Ok(())
        })
    }

    /// `SO_BROADCAST`: allows sends to broadcast addresses.
    ///
    /// # Errors
    /// As [`SocketControl::set_option`](crate::SocketControl::set_option).
    pub fn set_broadcast(&self, on: bool) -> Result<()> {
        self.h.shared.set_option(SockOpt::Broadcast(on))
    }

    /// Reads `SO_BROADCAST`.
    ///
    /// # Errors
    /// As [`SocketControl::get_option`](crate::SocketControl::get_option).
    pub fn broadcast(&self) -> Result<bool> {
        match self.h.shared.get_option(OptName::Broadcast)? {
            SockOpt::Broadcast(on) => Ok(on),
            _ => Err(NtStatus::INTERNAL_ERROR),
        }
    }

    /// `IP_ADD_MEMBERSHIP` / `IPV6_ADD_MEMBERSHIP`: joins a multicast group.
    ///
    /// # Errors
    /// `STATUS_INVALID_PARAMETER` for a membership of the other family or a group that is
    /// not multicast, the host's refusal (e.g. `STATUS_INVALID_ADDRESS_COMPONENT` for an
    /// interface address that is not local).
    pub fn join_multicast(&self, membership: Membership) -> Result<()> {
        self.h.shared.set_option(SockOpt::AddMembership(membership))
    }

    /// `IP_DROP_MEMBERSHIP` / `IPV6_DROP_MEMBERSHIP`: leaves a multicast group.
    ///
    /// # Errors
    /// As [`DatagramSocket::join_multicast`]; the host's refusal for a group not joined.
    pub fn leave_multicast(&self, membership: Membership) -> Result<()> {
        self.h.shared.set_option(SockOpt::DropMembership(membership))
    }

    /// `IP_PKTINFO` / `IPV6_PKTINFO`: reports each datagram's destination address and
    /// arrival interface as [`ControlMessage::PacketInfo`] (off by default).
    ///
    /// # Errors
    /// `STATUS_INVALID_HANDLE` after close.
    pub fn set_receive_packet_info(&self, on: bool) -> Result<()> {
        self.h.shared.set_option(SockOpt::PacketInfo(on))
    }

    /// `SO_WSK_EVENT_CALLBACK` enable (after bind): `WSK_EVENT_RECEIVE_FROM`.
    ///
    /// # Errors
    /// `STATUS_INVALID_DEVICE_STATE` before bind; `STATUS_INVALID_PARAMETER` for other bits.
    pub fn enable_events(&self, mask: u32) -> Result<()> {
        self.h.set_events(mask)
    }

    /// `SO_WSK_EVENT_CALLBACK` disable, with an IRP: completes once no callback of that
    /// event runs any more. A static callback cannot be disabled (`STATUS_INVALID_PARAMETER`).
    pub fn disable_event(&self, bit: u32) -> Op<()> {
        self.h.disable_event(bit)
    }

    /// The same without an IRP: `STATUS_SUCCESS`, or `STATUS_EVENT_PENDING` when that
    /// callback is running now (it is disabled once it returns).
    pub fn disable_event_nowait(&self, bit: u32) -> NtStatus {
        self.h.disable_event_nowait(bit)
    }

    /// Sets the receive backlog limit: past it the provider stops reading the host socket
    /// (whose queue then fills, and the host drops what does not fit) until the client
    /// consumes or releases datagrams.
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

    /// Receive figures: memory held, datagrams received, datagrams the host dropped.
    pub fn stats(&self) -> DatagramStats {
        let l = &self.h.shared.ledger;
        // Readable after close too: the counters stay as they were.
        let (received, host_drops, queued) = match &self.h.shared.lock().kind {
            Kind::Datagram(d) => (d.received, u64::from(d.host_drops), d.queued.len()),
            _ => (0, 0, 0),
        };
        DatagramStats { held: l.held(), high_water: l.high_water(), limit: l.limit(), received, host_drops, queued }
    }

    /// `WskCloseSocket`: cancels every pending operation (`STATUS_CANCELLED`), waits for a
    /// running callback, then completes. Retained datagrams stay valid until released.
    pub fn close(&self) -> Op<()> {
        self.h.close()
    }

    /// The host descriptor (for diagnostics and fault injection).
    pub fn raw_fd(&self) -> Option<i32> {
        self.with_state(|_, d| Ok(d.io.as_ref().map(|io| io.raw_fd()))).ok().flatten()
    }
}
