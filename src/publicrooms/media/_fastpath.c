/* The SFU's per-packet work in compiled code: SRTP protect and send of one forwarded packet,
 * SRTP unprotect of one received packet, and the batching of both on a worker's shared socket:
 * between begin() and end(), Sender.send() only protects into a slot of a module-wide batch and
 * end() sends the batch with one sendmmsg per socket (a received packet's whole fan-out, or a
 * whole burst of received packets, in one syscall); recv_batch() reads every waiting datagram
 * of a socket with one recvmmsg.
 *
 * libsrtp is not linked here: the functions and session contexts are the ones pylibsrtp
 * (aiortc's SRTP binding) already loaded, handed over as addresses by aiortc_adapter.py, so
 * both paths share one libsrtp and one session state. Everything else aiortc-specific stays in
 * aiortc_adapter.py; this file knows only "a function srtp(ctx, buffer, &length)" and a socket.
 *
 * Built by `pip install -e .` (setuptools, see pyproject.toml); when it is missing, the
 * adapter falls back to the pure-Python path, which does the same through cffi.
 */
#define _GNU_SOURCE /* sendmmsg, recvmmsg */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#define BUFFER_BYTES 1500 /* pylibsrtp's own buffer size, so both paths accept the same packets */
#define MAX_TRAILER 144   /* SRTP_MAX_TRAILER_LEN */
#define BATCH 64          /* datagrams per sendmmsg / recvmmsg */
#define RECV_BYTES 2048

typedef int (*srtp_fn)(void *ctx, void *data, int *length);

static int parse_address(PyObject *host, int port, struct sockaddr_storage *out, socklen_t *length) {
    const char *text = PyUnicode_AsUTF8(host);
    if (text == NULL) return -1;
    memset(out, 0, sizeof(*out));
    struct sockaddr_in *v4 = (struct sockaddr_in *)out;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)out;
    if (inet_pton(AF_INET, text, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)port);
        *length = sizeof(*v4);
        return 0;
    }
    if (inet_pton(AF_INET6, text, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t)port);
        *length = sizeof(*v6);
        return 0;
    }
    PyErr_Format(PyExc_ValueError, "not a numeric IP address: %s", text);
    return -1;
}

/* --- Sender: one subscriber connection's SRTP session and UDP destination ------------------ */

typedef struct {
    PyObject_HEAD
    srtp_fn protect;
    void *ctx;
    PyObject *keep; /* owns the libsrtp session memory (a pylibsrtp.Session) */
    int fd;         /* -1: not connected, packets are discarded */
    struct sockaddr_storage addr;
    socklen_t addr_length;
    unsigned long long sent;
    unsigned long long failed;
    unsigned char buffer[BUFFER_BYTES];
} Sender;

static int Sender_init(Sender *self, PyObject *args, PyObject *kwargs) {
    unsigned long long protect, ctx;
    PyObject *keep;
    if (!PyArg_ParseTuple(args, "KKO", &protect, &ctx, &keep)) return -1;
    if (!protect || !ctx) {
        PyErr_SetString(PyExc_ValueError, "null SRTP function or session");
        return -1;
    }
    self->protect = (srtp_fn)(uintptr_t)protect;
    self->ctx = (void *)(uintptr_t)ctx;
    Py_INCREF(keep);
    Py_XSETREF(self->keep, keep);
    self->fd = -1;
    return 0;
}

static void Sender_dealloc(Sender *self) {
    Py_XDECREF(self->keep);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* Copy into `out`, patch the payload type (pt >= 0), protect. Returns the length or -1. */
static int protect_to(Sender *self, unsigned char *out, const unsigned char *data, Py_ssize_t size, int pt) {
    if (size < 12 || size > BUFFER_BYTES - MAX_TRAILER) return -1;
    memcpy(out, data, (size_t)size);
    if (pt >= 0) out[1] = (unsigned char)((out[1] & 0x80) | (pt & 0x7F));
    int length = (int)size;
    if (self->protect(self->ctx, out, &length) != 0) return -1;
    return length;
}

static int protect_into(Sender *self, const unsigned char *data, Py_ssize_t size, int pt) {
    return protect_to(self, self->buffer, data, size, pt);
}

/* --- the send batch (one per process: the worker's event loop is single-threaded) ----------- */

static struct {
    int depth;                       /* begin() nesting; > 0: Sender.send queues */
    int count;                       /* queued datagrams */
    int fds[BATCH];
    Sender *owners[BATCH];           /* strong references until sent, for the counts */
    struct sockaddr_storage addrs[BATCH];
    struct iovec iov[BATCH];
    struct mmsghdr msgs[BATCH];
    unsigned char data[BATCH][BUFFER_BYTES];
    unsigned long long calls;        /* sendmmsg calls */
    unsigned long long packets;      /* datagrams sent through them */
} batch;

/* Send every queued datagram: one sendmmsg per run of datagrams for the same socket. */
static void flush_batch(void) {
    int i = 0;
    while (i < batch.count) {
        int fd = batch.fds[i];
        int run = 1;
        while (i + run < batch.count && batch.fds[i + run] == fd) run++;
        int done = 0;
        while (done < run) {
            int n = sendmmsg(fd, &batch.msgs[i + done], (unsigned int)(run - done), MSG_DONTWAIT);
            batch.calls++;
            if (n <= 0) { /* the first datagram failed (full buffer, unreachable): skip it */
                batch.owners[i + done]->failed++;
                done++;
                continue;
            }
            batch.packets += (unsigned long long)n;
            for (int k = 0; k < n; k++) batch.owners[i + done + k]->sent++;
            done += n;
        }
        i += run;
    }
    for (int k = 0; k < batch.count; k++) Py_DECREF(batch.owners[k]);
    batch.count = 0;
}

/* Queue one protected datagram for `self`'s destination. Returns 0, or -1 when it cannot be protected. */
static int queue_datagram(Sender *self, const unsigned char *data, Py_ssize_t size, int pt) {
    if (batch.count == BATCH) flush_batch();
    int slot = batch.count;
    int length = protect_to(self, batch.data[slot], data, size, pt);
    if (length < 0) return -1;
    batch.fds[slot] = self->fd;
    memcpy(&batch.addrs[slot], &self->addr, self->addr_length);
    batch.iov[slot].iov_base = batch.data[slot];
    batch.iov[slot].iov_len = (size_t)length;
    memset(&batch.msgs[slot], 0, sizeof(batch.msgs[slot]));
    batch.msgs[slot].msg_hdr.msg_name = &batch.addrs[slot];
    batch.msgs[slot].msg_hdr.msg_namelen = self->addr_length;
    batch.msgs[slot].msg_hdr.msg_iov = &batch.iov[slot];
    batch.msgs[slot].msg_hdr.msg_iovlen = 1;
    Py_INCREF(self);
    batch.owners[slot] = self;
    batch.count++;
    return 0;
}

static PyObject *Sender_target(Sender *self, PyObject *const *args, Py_ssize_t nargs) {
    /* target(fd, host, port): where packets go; target(-1) stops sending */
    if (nargs < 1) {
        PyErr_SetString(PyExc_TypeError, "target(fd[, host, port])");
        return NULL;
    }
    int fd = PyLong_AsLong(args[0]);
    if (fd == -1 && PyErr_Occurred()) return NULL;
    if (fd < 0) {
        self->fd = -1;
        Py_RETURN_NONE;
    }
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "target(fd, host, port)");
        return NULL;
    }
    long port = PyLong_AsLong(args[2]);
    if (port == -1 && PyErr_Occurred()) return NULL;
    if (port <= 0 || port > 65535) {
        PyErr_SetString(PyExc_ValueError, "port out of range");
        return NULL;
    }
    struct sockaddr_storage addr;
    socklen_t addr_length;
    if (parse_address(args[1], (int)port, &addr, &addr_length) < 0) return NULL; /* target unchanged */
    self->addr = addr;
    self->addr_length = addr_length;
    self->fd = fd;
    Py_RETURN_NONE;
}

static PyObject *Sender_send(Sender *self, PyObject *const *args, Py_ssize_t nargs) {
    /* send(packet[, pt]) -> bool: protect and send one RTP packet; False when it was not sent */
    if (nargs < 1 || nargs > 2 || !PyBytes_CheckExact(args[0])) {
        PyErr_SetString(PyExc_TypeError, "send(packet: bytes[, payload_type: int])");
        return NULL;
    }
    int pt = -1;
    if (nargs == 2) {
        pt = (int)PyLong_AsLong(args[1]);
        if (pt == -1 && PyErr_Occurred()) return NULL;
    }
    if (self->fd < 0) Py_RETURN_FALSE;
    if (batch.depth > 0) {
        if (queue_datagram(self, (const unsigned char *)PyBytes_AS_STRING(args[0]), PyBytes_GET_SIZE(args[0]), pt) < 0) {
            self->failed++;
            Py_RETURN_FALSE;
        }
        Py_RETURN_TRUE; /* counted as sent or failed by end() */
    }
    int length = protect_into(self, (const unsigned char *)PyBytes_AS_STRING(args[0]), PyBytes_GET_SIZE(args[0]), pt);
    if (length < 0) {
        self->failed++;
        Py_RETURN_FALSE;
    }
    ssize_t result = sendto(self->fd, self->buffer, (size_t)length, MSG_DONTWAIT,
                            (struct sockaddr *)&self->addr, self->addr_length);
    if (result < 0) {
        self->failed++;
        Py_RETURN_FALSE;
    }
    self->sent++;
    Py_RETURN_TRUE;
}

static PyObject *Sender_protect(Sender *self, PyObject *packet) {
    /* protect(packet) -> bytes (for checks; raises ValueError when libsrtp refuses) */
    if (!PyBytes_Check(packet)) {
        PyErr_SetString(PyExc_TypeError, "protect(packet: bytes)");
        return NULL;
    }
    int length = protect_into(self, (const unsigned char *)PyBytes_AS_STRING(packet), PyBytes_GET_SIZE(packet), -1);
    if (length < 0) {
        PyErr_SetString(PyExc_ValueError, "srtp_protect failed or packet size out of range");
        return NULL;
    }
    return PyBytes_FromStringAndSize((const char *)self->buffer, length);
}

static PyObject *Sender_counts(Sender *self, PyObject *unused) {
    return Py_BuildValue("KK", self->sent, self->failed);
}

static PyMethodDef Sender_methods[] = {
    {"target", (PyCFunction)(void (*)(void))Sender_target, METH_FASTCALL, "target(fd, host, port) or target(-1)"},
    {"send", (PyCFunction)(void (*)(void))Sender_send, METH_FASTCALL, "send(packet[, pt]) -> bool"},
    {"protect", (PyCFunction)Sender_protect, METH_O, "protect(packet) -> bytes"},
    {"counts", (PyCFunction)Sender_counts, METH_NOARGS, "(sent, failed)"},
    {NULL},
};

static PyTypeObject SenderType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "publicrooms.media._fastpath.Sender",
    .tp_basicsize = sizeof(Sender),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Sender(srtp_protect_address, srtp_session_address, owner): SRTP protect and UDP send",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Sender_init,
    .tp_dealloc = (destructor)Sender_dealloc,
    .tp_methods = Sender_methods,
};

/* --- Unprotector: one publisher connection's receiving SRTP session --------------------------- */

typedef struct {
    PyObject_HEAD
    srtp_fn unprotect;
    void *ctx;
    PyObject *keep;
    unsigned char buffer[BUFFER_BYTES];
} Unprotector;

static int Unprotector_init(Unprotector *self, PyObject *args, PyObject *kwargs) {
    unsigned long long unprotect, ctx;
    PyObject *keep;
    if (!PyArg_ParseTuple(args, "KKO", &unprotect, &ctx, &keep)) return -1;
    if (!unprotect || !ctx) {
        PyErr_SetString(PyExc_ValueError, "null SRTP function or session");
        return -1;
    }
    self->unprotect = (srtp_fn)(uintptr_t)unprotect;
    self->ctx = (void *)(uintptr_t)ctx;
    Py_INCREF(keep);
    Py_XSETREF(self->keep, keep);
    return 0;
}

static void Unprotector_dealloc(Unprotector *self) {
    Py_XDECREF(self->keep);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *Unprotector_call(Unprotector *self, PyObject *args, PyObject *kwargs) {
    /* unprotect(data) -> bytes, or None when authentication fails (replay, forgery, damage) */
    PyObject *data;
    if (!PyArg_ParseTuple(args, "O", &data)) return NULL;
    if (!PyBytes_Check(data)) {
        PyErr_SetString(PyExc_TypeError, "unprotect(data: bytes)");
        return NULL;
    }
    Py_ssize_t size = PyBytes_GET_SIZE(data);
    if (size < 12 || size > BUFFER_BYTES) Py_RETURN_NONE;
    memcpy(self->buffer, PyBytes_AS_STRING(data), (size_t)size);
    int length = (int)size;
    if (self->unprotect(self->ctx, self->buffer, &length) != 0) Py_RETURN_NONE;
    return PyBytes_FromStringAndSize((const char *)self->buffer, length);
}

static PyTypeObject UnprotectorType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "publicrooms.media._fastpath.Unprotector",
    .tp_basicsize = sizeof(Unprotector),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Unprotector(srtp_unprotect_address, srtp_session_address, owner)(data) -> bytes | None",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Unprotector_init,
    .tp_dealloc = (destructor)Unprotector_dealloc,
    .tp_call = (ternaryfunc)Unprotector_call,
};

/* --- module functions: batching ------------------------------------------------------------- */

static PyObject *fp_begin(PyObject *module, PyObject *unused) {
    batch.depth++;
    Py_RETURN_NONE;
}

static PyObject *fp_end(PyObject *module, PyObject *unused) {
    if (batch.depth > 0) batch.depth--;
    int queued = batch.count;
    if (batch.depth == 0 && queued) flush_batch();
    return PyLong_FromLong(batch.depth == 0 ? queued : 0);
}

static PyObject *fp_batch_stats(PyObject *module, PyObject *unused) {
    return Py_BuildValue("KK", batch.calls, batch.packets);
}

static PyObject *address_tuple(const struct sockaddr_storage *addr) {
    char text[INET6_ADDRSTRLEN];
    int port;
    if (addr->ss_family == AF_INET) {
        const struct sockaddr_in *v4 = (const struct sockaddr_in *)addr;
        inet_ntop(AF_INET, &v4->sin_addr, text, sizeof(text));
        port = ntohs(v4->sin_port);
    } else if (addr->ss_family == AF_INET6) {
        const struct sockaddr_in6 *v6 = (const struct sockaddr_in6 *)addr;
        inet_ntop(AF_INET6, &v6->sin6_addr, text, sizeof(text));
        port = ntohs(v6->sin6_port);
    } else {
        Py_RETURN_NONE;
    }
    return Py_BuildValue("(si)", text, port);
}

static PyObject *fp_recv_batch(PyObject *module, PyObject *arg) {
    /* recv_batch(fd) -> [(data, (host, port)), ...]: every datagram waiting (up to BATCH), one recvmmsg */
    static unsigned char data[BATCH][RECV_BYTES];
    static struct sockaddr_storage addrs[BATCH];
    static struct iovec iov[BATCH];
    static struct mmsghdr msgs[BATCH];
    int fd = PyLong_AsLong(arg);
    if (fd == -1 && PyErr_Occurred()) return NULL;
    for (int k = 0; k < BATCH; k++) {
        iov[k].iov_base = data[k];
        iov[k].iov_len = RECV_BYTES;
        memset(&msgs[k], 0, sizeof(msgs[k]));
        msgs[k].msg_hdr.msg_name = &addrs[k];
        msgs[k].msg_hdr.msg_namelen = sizeof(addrs[k]);
        msgs[k].msg_hdr.msg_iov = &iov[k];
        msgs[k].msg_hdr.msg_iovlen = 1;
    }
    int n = recvmmsg(fd, msgs, BATCH, MSG_DONTWAIT, NULL);
    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR || errno == ECONNREFUSED) return PyList_New(0);
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    PyObject *result = PyList_New(0);
    if (result == NULL) return NULL;
    for (int k = 0; k < n; k++) {
        if (msgs[k].msg_hdr.msg_flags & MSG_TRUNC) continue; /* larger than any media datagram */
        PyObject *addr = address_tuple(&addrs[k]);
        if (addr == NULL) goto fail;
        PyObject *item = Py_BuildValue("(y#N)", (const char *)data[k], (Py_ssize_t)msgs[k].msg_len, addr);
        if (item == NULL) goto fail;
        int appended = PyList_Append(result, item);
        Py_DECREF(item);
        if (appended < 0) goto fail;
    }
    return result;
fail:
    Py_DECREF(result);
    return NULL;
}

/* --- Receiver: one publish connection's receiving side, as the demultiplexer sees it -------- *
 * Its SRTP session (set by Python once DTLS is up) and the Python sink that takes the plain
 * RTP packets: sink(plain: bytes, arrival_ms: int). */

typedef struct {
    PyObject_HEAD
    srtp_fn unprotect; /* NULL until session(): packets go to Python */
    void *ctx;
    PyObject *keep;
    PyObject *sink;
    unsigned long long packets; /* unprotected here and handed to the sink */
} Receiver;

static int Receiver_init(Receiver *self, PyObject *args, PyObject *kwargs) {
    PyObject *sink;
    if (!PyArg_ParseTuple(args, "O", &sink)) return -1;
    if (!PyCallable_Check(sink)) {
        PyErr_SetString(PyExc_TypeError, "Receiver(sink): sink must be callable");
        return -1;
    }
    Py_INCREF(sink);
    Py_XSETREF(self->sink, sink);
    return 0;
}

static int Receiver_traverse(Receiver *self, visitproc visit, void *arg) {
    Py_VISIT(self->sink);
    Py_VISIT(self->keep);
    return 0;
}

static int Receiver_clear(Receiver *self) {
    Py_CLEAR(self->sink);
    Py_CLEAR(self->keep);
    self->unprotect = NULL;
    self->ctx = NULL;
    return 0;
}

static void Receiver_dealloc(Receiver *self) {
    PyObject_GC_UnTrack(self);
    Receiver_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *Receiver_session(Receiver *self, PyObject *args) {
    /* session(srtp_unprotect_address, srtp_session_address, owner), or session() to forget it */
    unsigned long long unprotect = 0, ctx = 0;
    PyObject *keep = NULL;
    if (!PyArg_ParseTuple(args, "|KKO", &unprotect, &ctx, &keep)) return NULL;
    if (keep == NULL) {
        self->unprotect = NULL;
        self->ctx = NULL;
        Py_CLEAR(self->keep);
        Py_RETURN_NONE;
    }
    if (!unprotect || !ctx) {
        PyErr_SetString(PyExc_ValueError, "null SRTP function or session");
        return NULL;
    }
    Py_INCREF(keep);
    Py_XSETREF(self->keep, keep);
    self->unprotect = (srtp_fn)(uintptr_t)unprotect;
    self->ctx = (void *)(uintptr_t)ctx;
    Py_RETURN_NONE;
}

static PyObject *Receiver_counts(Receiver *self, PyObject *unused) {
    return Py_BuildValue("K", self->packets);
}

static PyMethodDef Receiver_methods[] = {
    {"session", (PyCFunction)Receiver_session, METH_VARARGS, "session(unprotect_address, session_address, owner) or session()"},
    {"counts", (PyCFunction)Receiver_counts, METH_NOARGS, "packets unprotected here"},
    {NULL},
};

static PyTypeObject ReceiverType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "publicrooms.media._fastpath.Receiver",
    .tp_basicsize = sizeof(Receiver),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "Receiver(sink): a publish connection's SRTP session and plain-RTP sink, for a Demux",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Receiver_init,
    .tp_dealloc = (destructor)Receiver_dealloc,
    .tp_traverse = (traverseproc)Receiver_traverse,
    .tp_clear = (inquiry)Receiver_clear,
    .tp_methods = Receiver_methods,
};

/* --- Demux: the worker's shared socket, read with recvmmsg, routed by remote address -------- *
 * An SRTP packet from an address routed to a Receiver with a session is unprotected here and
 * given to the receiver (its sink, or the compiled forward); every other datagram (STUN, DTLS,
 * RTCP, unknown addresses, packets that fail authentication) is returned to Python, which
 * dispatches it as before. Python adds a route when it has seen the connection's first SRTP
 * packet and removes it when the connection goes away. */

#define ROUTE_BUCKETS 256

typedef struct Route {
    struct sockaddr_storage addr;
    socklen_t length;
    Receiver *receiver;
    struct Route *next;
} Route;

typedef struct {
    PyObject_HEAD
    int fd;
    Route *buckets[ROUTE_BUCKETS];
    Py_ssize_t routes;
    unsigned long long handled; /* datagrams unprotected here */
    unsigned long long passed;  /* datagrams returned to Python */
    unsigned long long errors;  /* sink calls that raised */
} Demux;

static unsigned address_hash(const struct sockaddr_storage *addr) {
    unsigned h = 2166136261u;
    const unsigned char *bytes;
    size_t n;
    uint16_t port;
    if (addr->ss_family == AF_INET) {
        const struct sockaddr_in *v4 = (const struct sockaddr_in *)addr;
        bytes = (const unsigned char *)&v4->sin_addr;
        n = 4;
        port = v4->sin_port;
    } else {
        const struct sockaddr_in6 *v6 = (const struct sockaddr_in6 *)addr;
        bytes = (const unsigned char *)&v6->sin6_addr;
        n = 16;
        port = v6->sin6_port;
    }
    for (size_t k = 0; k < n; k++) h = (h ^ bytes[k]) * 16777619u;
    h = (h ^ (port & 0xFF)) * 16777619u;
    h = (h ^ (port >> 8)) * 16777619u;
    return h & (ROUTE_BUCKETS - 1);
}

static int same_address(const struct sockaddr_storage *a, const struct sockaddr_storage *b) {
    if (a->ss_family != b->ss_family) return 0;
    if (a->ss_family == AF_INET) {
        const struct sockaddr_in *x = (const struct sockaddr_in *)a, *y = (const struct sockaddr_in *)b;
        return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
    }
    const struct sockaddr_in6 *x = (const struct sockaddr_in6 *)a, *y = (const struct sockaddr_in6 *)b;
    return x->sin6_port == y->sin6_port && memcmp(&x->sin6_addr, &y->sin6_addr, 16) == 0;
}

static Route **find_route(Demux *self, const struct sockaddr_storage *addr) {
    Route **link = &self->buckets[address_hash(addr)];
    while (*link != NULL && !same_address(&(*link)->addr, addr)) link = &(*link)->next;
    return link;
}

static int Demux_init(Demux *self, PyObject *args, PyObject *kwargs) {
    int fd;
    if (!PyArg_ParseTuple(args, "i", &fd)) return -1;
    self->fd = fd;
    return 0;
}

static void clear_routes(Demux *self) {
    for (int b = 0; b < ROUTE_BUCKETS; b++) {
        Route *route = self->buckets[b];
        self->buckets[b] = NULL;
        while (route != NULL) {
            Route *next = route->next;
            Py_DECREF(route->receiver);
            PyMem_Free(route);
            route = next;
        }
    }
    self->routes = 0;
}

static int Demux_traverse(Demux *self, visitproc visit, void *arg) {
    for (int b = 0; b < ROUTE_BUCKETS; b++)
        for (Route *route = self->buckets[b]; route != NULL; route = route->next) Py_VISIT(route->receiver);
    return 0;
}

static int Demux_clear(Demux *self) {
    clear_routes(self);
    return 0;
}

static void Demux_dealloc(Demux *self) {
    PyObject_GC_UnTrack(self);
    clear_routes(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *Demux_route(Demux *self, PyObject *const *args, Py_ssize_t nargs) {
    /* route(host, port, receiver): SRTP from (host, port) goes to `receiver` (replaces any route) */
    if (nargs != 3 || !PyObject_TypeCheck(args[2], &ReceiverType)) {
        PyErr_SetString(PyExc_TypeError, "route(host, port, receiver: Receiver)");
        return NULL;
    }
    long port = PyLong_AsLong(args[1]);
    if (port == -1 && PyErr_Occurred()) return NULL;
    if (port <= 0 || port > 65535) {
        PyErr_SetString(PyExc_ValueError, "port out of range");
        return NULL;
    }
    struct sockaddr_storage addr;
    socklen_t length;
    if (parse_address(args[0], (int)port, &addr, &length) < 0) return NULL;
    Route **link = find_route(self, &addr);
    Py_INCREF(args[2]);
    if (*link != NULL) {
        Py_SETREF((*link)->receiver, (Receiver *)args[2]);
        Py_RETURN_NONE;
    }
    Route *route = PyMem_Malloc(sizeof(Route));
    if (route == NULL) {
        Py_DECREF(args[2]);
        return PyErr_NoMemory();
    }
    route->addr = addr;
    route->length = length;
    route->receiver = (Receiver *)args[2];
    route->next = NULL;
    *link = route;
    self->routes++;
    Py_RETURN_NONE;
}

static PyObject *Demux_unroute(Demux *self, PyObject *const *args, Py_ssize_t nargs) {
    /* unroute(host, port) -> bool: datagrams from (host, port) go to Python again */
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "unroute(host, port)");
        return NULL;
    }
    long port = PyLong_AsLong(args[1]);
    if (port == -1 && PyErr_Occurred()) return NULL;
    if (port <= 0 || port > 65535) Py_RETURN_FALSE;
    struct sockaddr_storage addr;
    socklen_t length;
    if (parse_address(args[0], (int)port, &addr, &length) < 0) return NULL;
    Route **link = find_route(self, &addr);
    if (*link == NULL) Py_RETURN_FALSE;
    Route *route = *link;
    *link = route->next;
    self->routes--;
    Py_DECREF(route->receiver);
    PyMem_Free(route);
    Py_RETURN_TRUE;
}

static PyObject *address_tuple(const struct sockaddr_storage *addr);
static int receiver_take(Receiver *receiver, unsigned char *plain, int length, PyObject *arrival);

/* One recvmmsg; returns the datagrams for Python, or NULL with an exception set. */
static PyObject *Demux_read(Demux *self, PyObject *arrival) {
    /* read(arrival_ms) -> [(data, (host, port)), ...]: what Python must handle */
    static unsigned char data[BATCH][RECV_BYTES];
    static struct sockaddr_storage addrs[BATCH];
    static struct iovec iov[BATCH];
    static struct mmsghdr msgs[BATCH];
    static unsigned char plain[RECV_BYTES];
    if (!PyLong_Check(arrival)) {
        PyErr_SetString(PyExc_TypeError, "read(arrival_ms: int)");
        return NULL;
    }
    PyObject *result = PyList_New(0);
    if (result == NULL) return NULL;
    if (self->fd < 0) return result;
    for (int k = 0; k < BATCH; k++) {
        iov[k].iov_base = data[k];
        iov[k].iov_len = RECV_BYTES;
        memset(&msgs[k], 0, sizeof(msgs[k]));
        msgs[k].msg_hdr.msg_name = &addrs[k];
        msgs[k].msg_hdr.msg_namelen = sizeof(addrs[k]);
        msgs[k].msg_hdr.msg_iov = &iov[k];
        msgs[k].msg_hdr.msg_iovlen = 1;
    }
    int n = recvmmsg(self->fd, msgs, BATCH, MSG_DONTWAIT, NULL);
    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR || errno == ECONNREFUSED) return result;
        Py_DECREF(result);
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    for (int k = 0; k < n; k++) {
        if (msgs[k].msg_hdr.msg_flags & MSG_TRUNC) continue; /* larger than any media datagram */
        const unsigned char *d = data[k];
        int size = (int)msgs[k].msg_len;
        /* SRTP, not SRTCP (payload types 64-95 are RTCP's packet types 192-223) */
        if (size > 12 && size <= BUFFER_BYTES && d[0] > 127 && d[0] < 192 && !(d[1] > 191 && d[1] < 224)) {
            Route *route = *find_route(self, &addrs[k]);
            if (route != NULL && route->receiver->unprotect != NULL) {
                Receiver *receiver = route->receiver;
                memcpy(plain, d, (size_t)size);
                int length = size;
                if (receiver->unprotect(receiver->ctx, plain, &length) == 0) {
                    self->handled++;
                    receiver->packets++;
                    Py_INCREF(receiver); /* the sink may remove the route */
                    int status = receiver_take(receiver, plain, length, arrival);
                    Py_DECREF(receiver);
                    if (status < 0) {
                        if (self->errors++ == 0) PyErr_WriteUnraisable((PyObject *)self);
                        PyErr_Clear();
                    }
                    continue;
                }
                /* fails authentication here: Python decides (its session may be newer) */
            }
        }
        self->passed++;
        PyObject *addr = address_tuple(&addrs[k]);
        if (addr == NULL) goto fail;
        PyObject *item = Py_BuildValue("(y#N)", (const char *)d, (Py_ssize_t)size, addr);
        if (item == NULL) goto fail;
        int appended = PyList_Append(result, item);
        Py_DECREF(item);
        if (appended < 0) goto fail;
    }
    return result;
fail:
    Py_DECREF(result);
    return NULL;
}

static int receiver_take(Receiver *receiver, unsigned char *plain, int length, PyObject *arrival) {
    if (receiver->sink == NULL) return 0;
    PyObject *packet = PyBytes_FromStringAndSize((const char *)plain, length);
    if (packet == NULL) return -1;
    PyObject *call_args[2] = {packet, arrival};
    PyObject *out = PyObject_Vectorcall(receiver->sink, call_args, 2, NULL);
    Py_DECREF(packet);
    if (out == NULL) return -1;
    Py_DECREF(out);
    return 0;
}

static PyObject *Demux_close(Demux *self, PyObject *unused) {
    clear_routes(self);
    self->fd = -1;
    Py_RETURN_NONE;
}

static PyObject *Demux_counts(Demux *self, PyObject *unused) {
    return Py_BuildValue("KKKn", self->handled, self->passed, self->errors, self->routes);
}

static PyMethodDef Demux_methods[] = {
    {"route", (PyCFunction)(void (*)(void))Demux_route, METH_FASTCALL, "route(host, port, receiver)"},
    {"unroute", (PyCFunction)(void (*)(void))Demux_unroute, METH_FASTCALL, "unroute(host, port) -> bool"},
    {"read", (PyCFunction)Demux_read, METH_O, "read(arrival_ms) -> [(data, (host, port))] for Python"},
    {"close", (PyCFunction)Demux_close, METH_NOARGS, "forget every route and stop reading"},
    {"counts", (PyCFunction)Demux_counts, METH_NOARGS, "(handled, passed to Python, sink errors, routes)"},
    {NULL},
};

static PyTypeObject DemuxType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "publicrooms.media._fastpath.Demux",
    .tp_basicsize = sizeof(Demux),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "Demux(fd): recvmmsg on a shared socket, SRTP routed by remote address to Receivers",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Demux_init,
    .tp_dealloc = (destructor)Demux_dealloc,
    .tp_traverse = (traverseproc)Demux_traverse,
    .tp_clear = (inquiry)Demux_clear,
    .tp_methods = Demux_methods,
};

static PyMethodDef fastpath_functions[] = {
    {"begin", fp_begin, METH_NOARGS, "begin(): Sender.send queues until the matching end()"},
    {"end", fp_end, METH_NOARGS, "end() -> int: leave a begin(); the outermost sends the queue (sendmmsg), returns how many"},
    {"batch_stats", fp_batch_stats, METH_NOARGS, "(sendmmsg calls, datagrams sent through them)"},
    {"recv_batch", fp_recv_batch, METH_O, "recv_batch(fd) -> [(data, (host, port))]: one recvmmsg, never blocks"},
    {NULL},
};

static struct PyModuleDef fastpath_module = {
    PyModuleDef_HEAD_INIT, "_fastpath", "SRTP protect+send and unprotect for the SFU's hot path.", -1, fastpath_functions,
};

PyMODINIT_FUNC PyInit__fastpath(void) {
    if (PyType_Ready(&SenderType) < 0 || PyType_Ready(&UnprotectorType) < 0 || PyType_Ready(&ReceiverType) < 0 ||
        PyType_Ready(&DemuxType) < 0)
        return NULL;
    PyObject *module = PyModule_Create(&fastpath_module);
    if (module == NULL) return NULL;
    Py_INCREF(&SenderType);
    Py_INCREF(&UnprotectorType);
    Py_INCREF(&ReceiverType);
    Py_INCREF(&DemuxType);

    if (PyModule_AddObject(module, "Sender", (PyObject *)&SenderType) < 0 ||
        PyModule_AddObject(module, "Unprotector", (PyObject *)&UnprotectorType) < 0 ||
        PyModule_AddObject(module, "Receiver", (PyObject *)&ReceiverType) < 0 ||
        PyModule_AddObject(module, "Demux", (PyObject *)&DemuxType) < 0) {
        Py_DECREF(module);
        return NULL;
    }
    PyModule_AddIntConstant(module, "BUFFER_BYTES", BUFFER_BYTES);
    PyModule_AddIntConstant(module, "BATCH", BATCH);
    return module;
}
