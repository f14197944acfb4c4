//! `SIO_ADDRESS_LIST_QUERY` and `SIO_ADDRESS_LIST_CHANGE`, which every category takes.
//!
//! The query reads the host's interface addresses of the socket's family. A change
//! request stays pending in its socket (so close and `IoCancelIrp` end it like any other
//! operation) until the provider's one address watch — a routing netlink socket on the
//! host, opened at the first request — reports an address added or removed; then every
//! waiting request of every socket completes with `STATUS_SUCCESS`.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::Arc;

use wsk_core::backend::AddressWatch;
use wsk_core::status::NtStatus;

use super::{Handle, SocketShared};
use crate::op::{Canceller, Done, Op, Result};
use crate::provider::{lock, ProviderInner};

/// The reactor token of the provider's address watch.
pub(crate) const ADDRESS_WATCH_TOKEN: usize = usize::MAX - 1;

/// The provider's address watch and the sockets with a change request pending.
#[derive(Default)]
pub(crate) struct AddressWatchState {
    io: Option<Box<dyn AddressWatch>>,
    waiting: BTreeSet<usize>,
}

impl ProviderInner {
    /// Notes that socket `token` waits for a change, opening the watch on first use.
    fn wait_for_address_change(&self, token: usize) -> Result<()> {
        let mut watch = lock(&self.address_watch);
        if watch.io.is_none() {
            let io = self.backend.address_watch().map_err(|e| NtStatus::from_io_error(&e))?;
            io.register(ADDRESS_WATCH_TOKEN).map_err(|e| NtStatus::from_io_error(&e))?;
            watch.io = Some(io);
        }
        watch.waiting.insert(token);
        Ok(())
    }

    /// The address watch is readable: completes every waiting request if an address changed.
    pub(crate) fn on_address_watch(&self) {
        let waiting = {
            let mut watch = lock(&self.address_watch);
            let changed = match watch.io.as_ref().map(|io| io.changed()) {
                Some(Ok(changed)) => changed,
                Some(Err(e)) => {
                    tracing::warn!("address watch failed: {e}");
                    false
                }
                None => false,
            };
            if !changed {
                return;
            }
            std::mem::take(&mut watch.waiting)
        };
        for token in waiting {
            if let Some(socket) = self.socket(token) {
                let mut st = socket.lock();
                while let Some(done) = st.common.address_changes.pop_front() {
                    st.common.complete(done, Ok(()));
                }
                socket.run(st);
            }
        }
    }
}

impl SocketShared {
    fn address_list(&self) -> Result<Vec<SocketAddr>> {
        let v6 = {
            let st = self.lock();
            if st.common.closed {
                return Err(NtStatus::INVALID_HANDLE);
            }
            st.kind.is_v6()
        };
        let addrs = self.provider.backend.interface_addresses().map_err(|e| NtStatus::from_io_error(&e))?;
        Ok(addrs.into_iter().filter(|a| a.is_ipv6() == v6).collect())
    }

    fn address_list_change(self: &Arc<Self>, done: Done<()>) -> Option<wsk_core::irp::OpId> {
        let mut st = self.lock();
        let result = if st.common.closed {
            Err(NtStatus::INVALID_HANDLE)
        } else {
            self.provider.wait_for_address_change(self.token)
        };
        match result {
            Ok(()) => {
                let id = st.common.next_id();
                st.common.address_changes.push(id, done);
                Some(id)
            }
            Err(e) => {
                st.common.complete(done, Err(e));
                self.run(st);
                None
            }
        }
    }
}

impl Handle {
    pub(crate) fn address_list(&self) -> Result<Vec<SocketAddr>> {
        self.shared.address_list()
    }

    pub(crate) fn address_list_change(&self) -> Op<()> {
        let (op, done) = Op::new();
        match self.shared.address_list_change(done) {
            Some(id) => op.cancellable(&self.shared, id),
            None => op,
        }
    }

    pub(crate) fn address_list_change_then(&self, done: Done<()>) -> Option<Canceller> {
        self.shared.address_list_change(done).map(|id| Canceller::new(&self.shared, id))
    }
}
