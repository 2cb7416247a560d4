/* steer.c: which worker owns a datagram: the kernel's program and the same rule in C. */
#include "config.h"

#include <linux/filter.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include "steer.h"

#ifndef SO_ATTACH_REUSEPORT_CBPF
#define SO_ATTACH_REUSEPORT_CBPF 51
#endif

#define STEER_PORT_MUL 31 /* the hash: source port * 31 + last address byte */
#define RECORD_TLS12_CID 25
#define RECORD_CID_AT 11 /* type 1, version 2, epoch 2, sequence number 6 */

unsigned
steer_owner(const struct sockaddr *peer, int cid0, unsigned n)
{
	uint32_t port, last;

	if (n <= 1)
		return 0;
	if (cid0 >= 0 && (unsigned)cid0 < n)
		return (unsigned)cid0;
	if (peer->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)peer;

		port = ntohs(in->sin_port);
		last = ntohl(in->sin_addr.s_addr) & 0xff;
	} else {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)peer;

		/* An IPv4 peer of a "::" socket is v4-mapped: its last byte is the IPv4 one. */
		port = ntohs(in6->sin6_port);
		last = in6->sin6_addr.s6_addr[15];
	}
	return (port * STEER_PORT_MUL + last) % n;
}

int
steer_attach(int fd, unsigned n)
{
	/*
	 * The program sees the UDP payload at offset 0 and the IP header at
	 * SKF_NET_OFF (no IPv4 options, no IPv6 extension headers assumed: with
	 * them a datagram still reaches a worker, maybe not the owner). It
	 * returns an index into the group.
	 */
	struct sock_filter code[] = {
		BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 0),                       /* 0: content type */
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, RECORD_TLS12_CID, 0, 3), /* 1: else to 5 */
		BPF_STMT(BPF_LD | BPF_B | BPF_ABS, RECORD_CID_AT),           /* 2: the owner byte */
		BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, n, 1, 0), /* 3: no such worker: to 5 */
		BPF_STMT(BPF_RET | BPF_A, 0),
		BPF_STMT(BPF_LD | BPF_B | BPF_ABS, (uint32_t)SKF_NET_OFF), /* 5: IP version */
		BPF_STMT(BPF_ALU | BPF_RSH | BPF_K, 4),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 6, 4, 0), /* 7: to 12 */
		BPF_STMT(BPF_LD | BPF_B | BPF_ABS,
		    (uint32_t)SKF_NET_OFF + 15), /* IPv4 source, last byte */
		BPF_STMT(BPF_MISC | BPF_TAX, 0),
		BPF_STMT(BPF_LD | BPF_H | BPF_ABS,
		    (uint32_t)SKF_NET_OFF + 20),     /* UDP source port */
		BPF_JUMP(BPF_JMP | BPF_JA, 3, 0, 0), /* 11: to 15 */
		BPF_STMT(BPF_LD | BPF_B | BPF_ABS,
		    (uint32_t)SKF_NET_OFF + 23), /* IPv6 source, last byte */
		BPF_STMT(BPF_MISC | BPF_TAX, 0),
		BPF_STMT(BPF_LD | BPF_H | BPF_ABS,
		    (uint32_t)SKF_NET_OFF + 40), /* UDP source port */
		BPF_STMT(BPF_ALU | BPF_MUL | BPF_K, STEER_PORT_MUL),
		BPF_STMT(BPF_ALU | BPF_ADD | BPF_X, 0),
		BPF_STMT(BPF_ALU | BPF_MOD | BPF_K, n),
		BPF_STMT(BPF_RET | BPF_A, 0),
	};
	struct sock_fprog prog;

	memset(&prog, 0, sizeof prog); /* the padding after len goes to the kernel too */
	prog.len = sizeof code / sizeof code[0];
	prog.filter = code;

	return setsockopt(fd, SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, &prog, sizeof prog);
}
