//! Datagrams indicated by `WskReceiveFromEvent`: a chain of datagrams, each in a provider
//! receive buffer charged to its socket's [`Ledger`](crate::indication::Ledger), with its
//! source address and control information.
//!
//! The handler reads the chain during the callback. Returning
//! [`ReceiveFromOutcome::Retained`](crate::ReceiveFromOutcome::Retained) after
//! [`DatagramIndication::retain`] keeps it (`STATUS_PENDING`): the retained value can be
//! split into sub-chains or single datagrams, moved to other threads and dropped in any
//! order; each drop is `WskRelease` of what it holds.

use std::net::SocketAddr;

use wsk_core::cmsg::{msg, ControlMessage};

use crate::indication::IndicationBuffer;

/// One datagram of an indication chain (a `WSK_DATAGRAM_INDICATION` element).
///
/// Dropping it gives its buffer back to the provider (`WskRelease` of one element).
#[derive(Debug)]
pub struct IndicatedDatagram {
    buffer: IndicationBuffer,
    remote: SocketAddr,
    control: Vec<ControlMessage>,
    flags: u32,
}

impl IndicatedDatagram {
    pub(crate) fn new(buffer: IndicationBuffer, remote: SocketAddr, control: Vec<ControlMessage>, flags: u32) -> Self {
        IndicatedDatagram { buffer, remote, control, flags }
    }

    /// The datagram's bytes (`Buffer`).
    pub fn data(&self) -> &[u8] {
        self.buffer.data()
    }

    /// The provider buffer holding the bytes (it can be sent as it is: a zero-copy echo).
    pub fn buffer(&self) -> &IndicationBuffer {
        &self.buffer
    }

    /// Takes the buffer out, dropping the address and control information.
    pub fn into_buffer(self) -> IndicationBuffer {
        self.buffer
    }

    /// Bytes in the datagram.
    pub fn len(&self) -> usize {
        self.buffer.len()
    }

    /// Whether the datagram is empty (UDP allows that).
    pub fn is_empty(&self) -> bool {
        self.buffer.is_empty()
    }

    /// The sender's address (`RemoteAddress`).
    pub fn remote(&self) -> SocketAddr {
        self.remote
    }

    /// Control information (`ControlInfo`): the packet information when the socket asked
    /// for it (`IP_PKTINFO` / `IPV6_PKTINFO`), and whatever else the host reported.
    pub fn control(&self) -> &[ControlMessage] {
        &self.control
    }

    /// `MSG_BCAST` / `MSG_MCAST` of this datagram.
    pub fn flags(&self) -> u32 {
        self.flags
    }

    pub(crate) fn class(&self) -> u32 {
        self.flags & (msg::MSG_BCAST | msg::MSG_MCAST)
    }
}

/// The datagrams of one `WskReceiveFromEvent` (a `WSK_DATAGRAM_INDICATION` chain).
#[derive(Debug)]
pub struct DatagramIndication {
    chain: Vec<IndicatedDatagram>,
}

impl DatagramIndication {
    pub(crate) fn new(chain: Vec<IndicatedDatagram>) -> Self {
        DatagramIndication { chain }
    }

    /// The datagrams, in arrival order (empty once retained).
    pub fn datagrams(&self) -> &[IndicatedDatagram] {
        &self.chain
    }

    /// Number of datagrams in the chain.
    pub fn len(&self) -> usize {
        self.chain.len()
    }

    /// Whether the chain is empty (after [`DatagramIndication::retain`]).
    pub fn is_empty(&self) -> bool {
        self.chain.is_empty()
    }

    /// Takes ownership of the chain beyond the callback (the `STATUS_PENDING` outcome).
    pub fn retain(&mut self) -> RetainedDatagrams {
        RetainedDatagrams { chain: std::mem::take(&mut self.chain) }
    }

    pub(crate) fn into_chain(self) -> Vec<IndicatedDatagram> {
        self.chain
    }
}

/// A datagram chain the client kept (`STATUS_PENDING`); dropping it is `WskRelease`.
///
/// It can be split at any element ([`RetainedDatagrams::split_off`]) or taken apart
/// ([`RetainedDatagrams::into_datagrams`]); every piece releases what it holds when
/// dropped, from any thread, in any order.
#[derive(Debug, Default)]
pub struct RetainedDatagrams {
    chain: Vec<IndicatedDatagram>,
}

impl RetainedDatagrams {
    /// The datagrams still retained, in order.
    pub fn datagrams(&self) -> &[IndicatedDatagram] {
        &self.chain
    }

    /// Number of datagrams still retained.
    pub fn len(&self) -> usize {
        self.chain.len()
    }

    /// Whether nothing is retained.
    pub fn is_empty(&self) -> bool {
        self.chain.is_empty()
    }

    /// Splits off the datagrams from `at` on into a second retained chain.
    pub fn split_off(&mut self, at: usize) -> RetainedDatagrams {
        RetainedDatagrams { chain: self.chain.split_off(at.min(self.chain.len())) }
    }

    /// Hands out each datagram separately.
    pub fn into_datagrams(self) -> Vec<IndicatedDatagram> {
        self.chain
    }

    /// Releases everything now (the same as dropping it).
    pub fn release(self) {}
}
