/* steer.h: which worker owns a datagram: the kernel's program and the same rule in C. */
#ifndef COAPS_STEER_H
#define COAPS_STEER_H

#include <stdint.h>
#include <sys/socket.h>

/*
 * The worker that gets a datagram from peer when n workers share a
 * listening address: a DTLS record with a Connection ID (content type 25)
 * goes to the worker its first CID byte names, if there is one; any other
 * datagram to (source port * 31 + last byte of the source address) mod n.
 * cid0 < 0: the datagram has no CID.
 */
unsigned steer_owner(const struct sockaddr *peer, int cid0, unsigned n);
/*
 * Attaches the same rule as a classic BPF program to fd's SO_REUSEPORT group
 * (the sockets in the order they joined are the workers). 0, or -1 with errno.
 */
int steer_attach(int fd, unsigned n);

#endif
