//! Which event callbacks of a socket are enabled, and the rules for changing that.
//!
//! Per the WSK contract (SO_WSK_EVENT_CALLBACK and WSK_SET_STATIC_EVENT_CALLBACKS):
//! - every callback is disabled on a new socket, except the *static* ones the client
//!   declared before creating sockets; static callbacks can never be disabled;
//! - enabling takes any OR of the bits valid for the category; disabling takes exactly
//!   one bit OR-ed with `WSK_EVENT_DISABLE`;
//! - connection-event bits enabled on a listening socket are inherited by sockets it
//!   delivers through `WskAcceptEvent`, and once enabled there they cannot be disabled.

use crate::consts::events::*;
use crate::status::NtStatus;

/// The five socket categories of WSK.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Category {
    /// Options and IOCTLs only.
    Basic,
    /// Listens for and accepts connections.
    Listen,
    /// Sends and receives datagrams.
    Datagram,
    /// Sends and receives over an established connection.
    Connection,
    /// Becomes a listening or connection-oriented socket once it is committed.
    Stream,
}

impl Category {
    /// The event bits a client may enable on a socket of this category.
    pub const fn valid_events(self) -> u32 {
        match self {
            Category::Basic => 0,
            Category::Listen => LISTEN_EVENTS,
            Category::Datagram => DATAGRAM_EVENTS,
            Category::Connection => CONNECTION_EVENTS,
            Category::Stream => LISTEN_EVENTS,
        }
    }
}

/// A decoded `WSK_EVENT_CALLBACK_CONTROL.EventMask`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventRequest {
    /// Enable every bit in the mask.
    Enable(u32),
    /// Disable this one event bit.
    Disable(u32),
}

impl EventRequest {
    /// Decodes an event mask as the client wrote it.
    ///
    /// # Errors
    /// `STATUS_INVALID_PARAMETER` for an empty mask, or a disable request naming
    /// anything but exactly one event bit.
    pub fn parse(mask: u32) -> Result<Self, NtStatus> {
        if mask & WSK_EVENT_DISABLE != 0 {
            let bit = mask & !WSK_EVENT_DISABLE;
            if bit.count_ones() != 1 {
                return Err(NtStatus::INVALID_PARAMETER);
            }
            Ok(EventRequest::Disable(bit))
        } else if mask == 0 {
            Err(NtStatus::INVALID_PARAMETER)
        } else {
            Ok(EventRequest::Enable(mask))
        }
    }
}

/// The enabled callbacks of one socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventState {
    category: Category,
    enabled: u32,
    /// Bits that can never be disabled: static callbacks, and on a listener the
    /// inheritable connection events once enabled.
    locked: u32,
}

impl EventState {
    /// The state of a new socket: only the static callbacks valid for its category are on.
    pub fn new(category: Category, static_mask: u32) -> Self {
        let statics = static_mask & category.valid_events();
        EventState { category, enabled: statics, locked: statics }
    }

    /// The state of a socket delivered through `WskAcceptEvent` by a listener whose
    /// state is `listener`: its static bits plus the connection events the listener enabled.
    pub fn accepted(listener: &EventState, static_mask: u32) -> Self {
        let mut state = EventState::new(Category::Connection, static_mask);
        state.enabled |= listener.enabled & CONNECTION_EVENTS;
        state
    }

    /// Enables every bit of `mask`.
    ///
    /// # Errors
    /// `STATUS_INVALID_PARAMETER` when a bit is not valid for the category.
    pub fn enable(&mut self, mask: u32) -> Result<(), NtStatus> {
        if mask == 0 || mask & !self.category.valid_events() != 0 {
            return Err(NtStatus::INVALID_PARAMETER);
        }
        self.enabled |= mask;
        if matches!(self.category, Category::Listen | Category::Stream) {
            self.locked |= mask & CONNECTION_EVENTS;
        }
        Ok(())
    }

    /// Disables one event bit.
    ///
    /// # Errors
    /// `STATUS_INVALID_PARAMETER` for a bit not valid for the category, or one that
    /// cannot be disabled (static, or inherited connection events on a listener).
    pub fn disable(&mut self, bit: u32) -> Result<(), NtStatus> {
        if bit.count_ones() != 1 || bit & !self.category.valid_events() != 0 || bit & self.locked != 0 {
            return Err(NtStatus::INVALID_PARAMETER);
        }
        self.enabled &= !bit;
        Ok(())
    }

    /// Whether the callback of `bit` is enabled.
    pub const fn is_enabled(&self, bit: u32) -> bool {
        self.enabled & bit != 0
    }

    /// Every enabled bit.
    pub const fn mask(&self) -> u32 {
        self.enabled
    }

    /// Commits a stream socket to the category it became (listening or connection).
    pub fn commit(&mut self, category: Category) {
        self.category = category;
        self.enabled &= category.valid_events();
        self.locked &= category.valid_events();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_requests() {
        assert_eq!(EventRequest::parse(WSK_EVENT_RECEIVE | WSK_EVENT_DISCONNECT), Ok(EventRequest::Enable(0xc0)));
        assert_eq!(
            EventRequest::parse(WSK_EVENT_RECEIVE | WSK_EVENT_DISABLE),
            Ok(EventRequest::Disable(WSK_EVENT_RECEIVE))
        );
        assert_eq!(EventRequest::parse(0), Err(NtStatus::INVALID_PARAMETER));
        assert_eq!(EventRequest::parse(WSK_EVENT_DISABLE), Err(NtStatus::INVALID_PARAMETER));
        assert_eq!(
            EventRequest::parse(WSK_EVENT_RECEIVE | WSK_EVENT_DISCONNECT | WSK_EVENT_DISABLE),
            Err(NtStatus::INVALID_PARAMETER)
        );
    }

    #[test]
    fn enable_checks_category() {
        let mut s = EventState::new(Category::Connection, 0);
        assert_eq!(s.enable(WSK_EVENT_ACCEPT), Err(NtStatus::INVALID_PARAMETER));
        assert_eq!(s.enable(WSK_EVENT_RECEIVE_FROM), Err(NtStatus::INVALID_PARAMETER));
        s.enable(WSK_EVENT_RECEIVE).unwrap();
        assert!(s.is_enabled(WSK_EVENT_RECEIVE));
        s.disable(WSK_EVENT_RECEIVE).unwrap();
        assert!(!s.is_enabled(WSK_EVENT_RECEIVE));
        let mut b = EventState::new(Category::Basic, u32::MAX);
        assert_eq!(b.mask(), 0);
        assert_eq!(b.enable(WSK_EVENT_RECEIVE), Err(NtStatus::INVALID_PARAMETER));
    }

    #[test]
    fn static_callbacks_cannot_be_disabled() {
        let mut s = EventState::new(Category::Connection, WSK_EVENT_RECEIVE | WSK_EVENT_ACCEPT);
        assert!(s.is_enabled(WSK_EVENT_RECEIVE));
        assert!(!s.is_enabled(WSK_EVENT_ACCEPT));
        assert_eq!(s.disable(WSK_EVENT_RECEIVE), Err(NtStatus::INVALID_PARAMETER));
    }

    #[test]
    fn listener_connection_events_are_inherited_and_locked() {
        let mut l = EventState::new(Category::Listen, 0);
        l.enable(WSK_EVENT_ACCEPT | WSK_EVENT_RECEIVE).unwrap();
        assert_eq!(l.disable(WSK_EVENT_RECEIVE), Err(NtStatus::INVALID_PARAMETER));
        l.disable(WSK_EVENT_ACCEPT).unwrap();
        l.enable(WSK_EVENT_ACCEPT).unwrap();
        let a = EventState::accepted(&l, WSK_EVENT_DISCONNECT);
        assert_eq!(a.mask(), WSK_EVENT_RECEIVE | WSK_EVENT_DISCONNECT);
    }
}
