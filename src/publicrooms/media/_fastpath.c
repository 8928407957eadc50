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
    if (PyType_Ready(&SenderType) < 0 || PyType_Ready(&UnprotectorType) < 0) return NULL;
    PyObject *module = PyModule_Create(&fastpath_module);
    if (module == NULL) return NULL;
    Py_INCREF(&SenderType);
    Py_INCREF(&UnprotectorType);
    if (PyModule_AddObject(module, "Sender", (PyObject *)&SenderType) < 0 ||
        PyModule_AddObject(module, "Unprotector", (PyObject *)&UnprotectorType) < 0) {
        Py_DECREF(module);
        return NULL;
    }
    PyModule_AddIntConstant(module, "BUFFER_BYTES", BUFFER_BYTES);
    PyModule_AddIntConstant(module, "BATCH", BATCH);
    return module;
}
