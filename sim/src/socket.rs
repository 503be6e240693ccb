//! Closing one client connection of the simulator for real, which tiny_http cannot do: it keeps
//! a connection open until the client leaves, and exposes neither the socket nor a way to close
//! it. The connection is found among the process's open descriptors by its two addresses (the
//! listening address and the client's) and shut down with `shutdown(2)`: the client reads an EOF
//! (FIN) in the middle of the body, and tiny_http's own reader sees an EOF and lets the
//! connection go. The descriptor itself stays tiny_http's to close.
//!
//! Unix only (`/proc/self/fd` on Linux, `/dev/fd` elsewhere); on other systems nothing is closed
//! and a dropped answer degrades to a stalled one (the client's timeout fires).
use std::net::SocketAddr;

/// One TCP connection of this process, found by its addresses.
#[derive(Debug)]
pub(super) struct Connection {
    #[cfg(unix)]
    fd: libc::c_int,
}

/// The open TCP connection from `peer` to `local`, if this process has one.
#[cfg(unix)]
pub(super) fn find(local: SocketAddr, peer: SocketAddr) -> Option<Connection> {
    let dir = ["/proc/self/fd", "/dev/fd"]
        .into_iter()
        .find_map(|d| std::fs::read_dir(d).ok())?;
    dir.flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<libc::c_int>().ok())
        .find(|&fd| {
            same(address_of(fd, Side::Local), local) && same(address_of(fd, Side::Peer), peer)
        })
        .map(|fd| Connection { fd })
}

/// Not Unix: never found (see the module doc).
#[cfg(not(unix))]
pub(super) fn find(_local: SocketAddr, _peer: SocketAddr) -> Option<Connection> {
    None
}

impl Connection {
    /// Shuts the connection down in both directions; false if the system refused.
    #[cfg(unix)]
    pub(super) fn shut_down(self) -> bool {
        // SAFETY: shutdown(2) takes a plain descriptor number and only changes the state of the
        // socket behind it; this one is the connection asked for (its two addresses matched, and
        // it stays open while its request is being answered).
        unsafe { libc::shutdown(self.fd, libc::SHUT_RDWR) == 0 }
    }

    /// Not Unix: nothing to shut down.
    #[cfg(not(unix))]
    pub(super) fn shut_down(self) -> bool {
        false
    }

    /// Whether the client has closed (or reset) the connection: a peek that reads an EOF.
    #[cfg(unix)]
    pub(super) fn peer_left(&self) -> bool {
        let mut byte = [0u8; 1];
        // SAFETY: recv(2) writes at most one byte into `byte`; MSG_PEEK leaves the data for
        // tiny_http, MSG_DONTWAIT never blocks.
        let n = unsafe {
            libc::recv(
                self.fd,
                byte.as_mut_ptr() as *mut libc::c_void,
                1,
                libc::MSG_PEEK | libc::MSG_DONTWAIT,
            )
        };
        match n {
            0 => true,
            n if n > 0 => false,
            _ => !matches!(
                std::io::Error::last_os_error().kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::Interrupted
            ),
        }
    }

    /// Not Unix: never known.
    #[cfg(not(unix))]
    pub(super) fn peer_left(&self) -> bool {
        false
    }
}

#[cfg(unix)]
fn same(found: Option<SocketAddr>, want: SocketAddr) -> bool {
    found.is_some_and(|f| f.ip() == want.ip() && f.port() == want.port())
}

#[cfg(unix)]
enum Side {
    Local,
    Peer,
}

/// The local or peer address of descriptor `fd`; `None` when it is not an IP socket (a file, a
/// pipe, a descriptor closed meanwhile: the calls then just fail).
#[cfg(unix)]
fn address_of(fd: libc::c_int, side: Side) -> Option<SocketAddr> {
    use std::net::{Ipv4Addr, Ipv6Addr, SocketAddrV6};
    // SAFETY: sockaddr_storage is plain old data, valid when zeroed.
    let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    let ptr = &mut storage as *mut libc::sockaddr_storage as *mut libc::sockaddr;
    // SAFETY: `ptr` and `len` describe a writable buffer of the size given; on an fd that is not
    // a socket the call fails with ENOTSOCK/EBADF and writes nothing.
    let rc = unsafe {
        match side {
            Side::Local => libc::getsockname(fd, ptr, &mut len),
            Side::Peer => libc::getpeername(fd, ptr, &mut len),
        }
    };
    if rc != 0 {
        return None;
    }
    match storage.ss_family as libc::c_int {
        libc::AF_INET => {
            // SAFETY: the family says the storage holds a sockaddr_in, which fits in it.
            let a = unsafe {
                &*(&storage as *const libc::sockaddr_storage as *const libc::sockaddr_in)
            };
            Some(SocketAddr::from((
                Ipv4Addr::from(u32::from_be(a.sin_addr.s_addr)),
                u16::from_be(a.sin_port),
            )))
        }
        libc::AF_INET6 => {
            // SAFETY: as above, for sockaddr_in6.
            let a = unsafe {
                &*(&storage as *const libc::sockaddr_storage as *const libc::sockaddr_in6)
            };
            Some(SocketAddr::V6(SocketAddrV6::new(
                Ipv6Addr::from(a.sin6_addr.s6_addr),
                u16::from_be(a.sin6_port),
                a.sin6_flowinfo,
                a.sin6_scope_id,
            )))
        }
        _ => None,
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::{TcpListener, TcpStream};

    #[test]
    fn a_connection_found_by_its_addresses_is_closed_for_the_client() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let local = listener.local_addr().unwrap();
        let mut client = TcpStream::connect(local).unwrap();
        let (mut server_side, peer) = listener.accept().unwrap();
        server_side.write_all(b"half").unwrap();
        assert!(find(local, peer).unwrap().shut_down());
        let mut got = Vec::new();
        client
            .set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .unwrap();
        // EOF (not a timeout) right after the bytes sent before the close.
        client.read_to_end(&mut got).unwrap();
        assert_eq!(got, b"half");
        let stranger: SocketAddr = "127.0.0.1:9".parse().unwrap();
        assert!(find(local, stranger).is_none());
    }
}
