/*
 * net_int.h - functions shared by the files of src/net only.
 */
#ifndef IOT_NET_INT_H
#define IOT_NET_INT_H

#include <stddef.h>
#include <sys/socket.h>

#include "net/net.h"

/* Wraps an accepted socket in a connection watched by w's loop; returns owned or NULL. */
iot_conn_t *iot__conn_new(iot_worker_t *w, int fd);
/* Formats a socket address as "ip:port" or "[ip6]:port". */
void iot__peer_name(const struct sockaddr_storage *ss, char *out, size_t len);

#endif
