/*
 * The userspace floor: the least a userspace ARP responder can do, to measure the others against.
 *
 *     floor IFACE A.B.C.D/LEN
 *
 * One AF_PACKET socket bound to ARP on IFACE (an 8 MiB receive buffer), a blocking recv() per frame, one
 * range check of the target IP against the block, the reply built in place, one send(). No batching, no
 * rings, no BPF filter, no checks beyond "a request for the block" (it would answer what arpresponder
 * drops: a bad sender, a gratuitous request): it is a yardstick, not a responder to run. The bench
 * compiles it with `cc` and runs it in its lab; it prints "ready: …" once bound and answers until killed.
 */
#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#ifndef PACKET_IGNORE_OUTGOING
#define PACKET_IGNORE_OUTGOING 23 /* Linux 4.20+: our replies do not come back to us */
#endif

static int fail(const char *what) {
    perror(what);
    return 1;
}

int main(int argc, char **argv) {
    char net_text[INET_ADDRSTRLEN];
    unsigned prefix;
    struct in_addr net_addr;
    if (argc != 3 || sscanf(argv[2], "%15[0-9.]/%u", net_text, &prefix) != 2 || prefix > 32 ||
        inet_pton(AF_INET, net_text, &net_addr) != 1) {
        fprintf(stderr, "usage: floor IFACE A.B.C.D/LEN\n");
        return 2;
    }
    uint32_t mask = prefix ? ~0u << (32 - prefix) : 0, net = ntohl(net_addr.s_addr) & mask;

    int fd = socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ARP));
    if (fd < 0)
        return fail("socket");
    struct ifreq ifr = {0};
    strncpy(ifr.ifr_name, argv[1], IFNAMSIZ - 1);
    if (ioctl(fd, SIOCGIFHWADDR, &ifr) < 0)
        return fail("SIOCGIFHWADDR");
    unsigned char mac[6];
    memcpy(mac, ifr.ifr_hwaddr.sa_data, 6);
    int one = 1;
    setsockopt(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof one); /* older kernels: op check below */
    /* Room for a burst, as arpresponder has (its 8 MiB ring): trafgen's pacing sends a second's worth at once, and
     * the default ~200 KiB holds a few hundred frames. SO_RCVBUFFORCE passes the sysctl maximum as root. */
    int buffer = 8 << 20;
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &buffer, sizeof buffer) < 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buffer, sizeof buffer);
    struct sockaddr_ll sll = {.sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ARP),
                              .sll_ifindex = (int)if_nametoindex(argv[1])};
    if (!sll.sll_ifindex || bind(fd, (struct sockaddr *)&sll, sizeof sll) < 0)
        return fail("bind");
    printf("ready: listening on %s for %s\n", argv[1], argv[2]);
    fflush(stdout);

    /* The reply's constant part: Ethernet source, ARP header for Ethernet/IPv4, op 2, sender MAC. */
    static const unsigned char arp_reply[10] = {0x08, 0x06, 0x00, 0x01, 0x08, 0x00, 6, 4, 0x00, 0x02};
    unsigned char in[128], out[60] = {0};
    memcpy(out + 6, mac, 6);
    memcpy(out + 12, arp_reply, sizeof arp_reply);
    memcpy(out + 22, mac, 6);
    for (;;) {
        ssize_t n = recv(fd, in, sizeof in, 0);
        if (n < 42 || in[20] != 0 || in[21] != 1) /* not a whole ARP request */
            continue;
        uint32_t tpa;
        memcpy(&tpa, in + 38, 4);
        if ((ntohl(tpa) & mask) != net) /* the one range check */
            continue;
        memcpy(out, in + 22, 6);      /* Ethernet destination: the sender's MAC */
        memcpy(out + 28, in + 38, 4); /* sender IP: the address asked for */
        memcpy(out + 32, in + 22, 6); /* target: the asker */
        memcpy(out + 38, in + 28, 4);
        send(fd, out, sizeof out, 0);
    }
}
