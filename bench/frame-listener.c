/*
 * The E-stop fan-out benchmark's stand-in for 100 controllers, as a separate native process:
 * an epoll loop on 127.0.0.1 that timestamps every stop frame (`!S<trip>\n`) with
 * CLOCK_MONOTONIC, the clock Node's process.hrtime.bigint() reads, so its times compare with
 * the benchmark's directly. Unlike a JavaScript listener it adds almost nothing of its own to
 * the measured latency (no per-read allocation, no event-loop turn per socket).
 *
 * stdout: "PORT <n>" once listening; "D <trip> <first_ns> <last_ns>" when the expected number
 * of frames of a trip has arrived. stdin: "T <trip> <expect>" before each trip; EOF ends it.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define SLOTS 4096
#define MAXFD 4096

static long long want[SLOTS], count[SLOTS], first_ns[SLOTS], last_ns[SLOTS];
static long long trip_of[SLOTS];
static struct { int in_frame; long long trip; } conn[MAXFD];

static long long now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void slot_reset(long long trip) {
  int s = (int)(trip % SLOTS);
  if (trip_of[s] != trip) {
    trip_of[s] = trip;
    want[s] = -1;
    count[s] = 0;
  }
}

static void maybe_done(long long trip) {
  int s = (int)(trip % SLOTS);
  if (trip_of[s] != trip || want[s] < 0 || count[s] < want[s]) return;
  printf("D %lld %lld %lld\n", trip, first_ns[s], last_ns[s]);
  fflush(stdout);
  want[s] = -1;
  count[s] = 0;
  trip_of[s] = -1;
}

static void frame(long long trip, long long at) {
  slot_reset(trip);
  int s = (int)(trip % SLOTS);
  if (count[s] == 0) first_ns[s] = at;
  count[s]++;
  last_ns[s] = at;
  maybe_done(trip);
}

int main(void) {
  for (int i = 0; i < SLOTS; i++) trip_of[i] = -1;
  int srv = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in addr = {0};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  if (bind(srv, (struct sockaddr *)&addr, sizeof addr) || listen(srv, 1024)) { perror("listen"); return 1; }
  socklen_t len = sizeof addr;
  getsockname(srv, (struct sockaddr *)&addr, &len);
  printf("PORT %d\n", ntohs(addr.sin_port));
  fflush(stdout);

  int ep = epoll_create1(0);
  struct epoll_event ev = {.events = EPOLLIN};
  ev.data.fd = srv;
  epoll_ctl(ep, EPOLL_CTL_ADD, srv, &ev);
  ev.data.fd = 0;
  epoll_ctl(ep, EPOLL_CTL_ADD, 0, &ev);

  char buf[65536], line[256];
  size_t line_len = 0;
  struct epoll_event events[256];
  for (;;) {
    int n = epoll_wait(ep, events, 256, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      return 1;
    }
    for (int i = 0; i < n; i++) {
      int fd = events[i].data.fd;
      if (fd == srv) {
        int c = accept(srv, NULL, NULL);
        if (c < 0 || c >= MAXFD) { if (c >= 0) close(c); continue; }
        int one = 1;
        setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        conn[c].in_frame = 0;
        struct epoll_event cev = {.events = EPOLLIN};
        cev.data.fd = c;
        epoll_ctl(ep, EPOLL_CTL_ADD, c, &cev);
      } else if (fd == 0) {
        ssize_t r = read(0, buf, sizeof buf);
        if (r <= 0) return 0;
        for (ssize_t k = 0; k < r; k++) {
          if (buf[k] != '\n') {
            if (line_len < sizeof line - 1) line[line_len++] = buf[k];
            continue;
          }
          line[line_len] = 0;
          line_len = 0;
          long long trip, expect;
          if (sscanf(line, "T %lld %lld", &trip, &expect) == 2) {
            slot_reset(trip);
            want[trip % SLOTS] = expect;
            maybe_done(trip);
          }
        }
      } else {
        ssize_t r = read(fd, buf, sizeof buf);
        long long at = now_ns();
        if (r <= 0) {
          epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
          close(fd);
          continue;
        }
        for (ssize_t k = 0; k < r; k++) {
          unsigned char b = (unsigned char)buf[k];
          if (b == '!') { conn[fd].in_frame = 1; conn[fd].trip = 0; }
          else if (b == '\n') { if (conn[fd].in_frame) frame(conn[fd].trip, at); conn[fd].in_frame = 0; }
          else if (conn[fd].in_frame && b >= '0' && b <= '9') conn[fd].trip = conn[fd].trip * 10 + (b - '0');
        }
      }
    }
  }
}
