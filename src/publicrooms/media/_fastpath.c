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
#include <time.h>

#define BUFFER_BYTES 1500 /* pylibsrtp's own buffer size, so both paths accept the same packets */
#define MAX_TRAILER 144   /* SRTP_MAX_TRAILER_LEN */
#define BATCH 64          /* datagrams per sendmmsg / recvmmsg */
#define RECV_BYTES 2048
#define MAX_TRACKS 8     /* media SSRCs per publish connection forwarded here */

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

/* --- DownForward, UpForward: an up track's steady-state forwarding, done here -------------- *
 * Python owns every decision (uptrack.py, downtrack.py) and pushes the parameters of the steady
 * state into an UpForward whenever they change: the publisher's media SSRC and payload type, the
 * last sequence number seen, the seq/ts offsets, the outgoing SSRC and payload type, the header
 * extension id map, and the live down tracks (each a DownForward: a subscriber's Sender and
 * payload type patch). A packet is forwarded here only when it is exactly the next one of that
 * SSRC (no gap, no duplicate), carries no padding, the media payload type and at most one-byte
 * header extensions, and forwarding is enabled (not muted, no keyframe wait, every live down
 * track on the compiled sender); anything else goes to Python, which does the bookkeeping and
 * pushes the new state back. Forwarded packets are kept in ONE history ring per up track, which
 * Python's NACK handling reads. The counts Python reports are kept here until it pulls them. */

typedef struct {
    PyObject_HEAD
    Sender *sender;
    int patch_pt; /* >= 0: this subscriber's payload type differs from the up track's */
    unsigned long long packets, octets, failed; /* since the last take() */
} DownForward;

static int DownForward_init(DownForward *self, PyObject *args, PyObject *kwargs) {
    PyObject *sender;
    int patch_pt = -1;
    if (!PyArg_ParseTuple(args, "O!|i", &SenderType, &sender, &patch_pt)) return -1;
    Py_INCREF(sender);
    Py_XSETREF(self->sender, (Sender *)sender);
    self->patch_pt = patch_pt < 0 ? -1 : (patch_pt & 0x7F);
    return 0;
}

static void DownForward_dealloc(DownForward *self) {
    Py_XDECREF(self->sender);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *DownForward_take(DownForward *self, PyObject *unused) {
    /* take() -> (packets, octets, failed) forwarded here since the last take() */
    PyObject *out = Py_BuildValue("KKK", self->packets, self->octets, self->failed);
    self->packets = self->octets = self->failed = 0;
    return out;
}

static PyMethodDef DownForward_methods[] = {
    {"take", (PyCFunction)DownForward_take, METH_NOARGS, "(packets, octets, failed) since the last take()"},
    {NULL},
};

static PyTypeObject DownForwardType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "publicrooms.media._fastpath.DownForward",
    .tp_basicsize = sizeof(DownForward),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "DownForward(sender, patch_pt=-1): one down track as the compiled forward sees it",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)DownForward_init,
    .tp_dealloc = (destructor)DownForward_dealloc,
    .tp_methods = DownForward_methods,
};

typedef struct {
    PyObject_HEAD
    int enabled;
    uint32_t media_ssrc;
    int media_pt;
    uint16_t in_seq;
    uint16_t seq_offset;
    uint32_t ts_offset;
    uint32_t out_ssrc;
    int down_pt;
    unsigned char ext_ids[16]; /* publisher's one-byte id -> subscribers' id, 0: blank it */
    int level_id;              /* ssrc-audio-level id, 0: none */
    PyObject *downs;           /* tuple of DownForward */
    PyObject **history;        /* forwarded packets by outgoing seq & mask */
    unsigned mask;
    /* what Python pulls */
    int dirty;
    uint16_t last_out_seq;
    uint32_t last_out_ts;
    long long last_arrival_ms;
    unsigned long long packets_in;
    int level_peak;
} UpForward;

static int UpForward_init(UpForward *self, PyObject *args, PyObject *kwargs) {
    int size;
    if (!PyArg_ParseTuple(args, "i", &size)) return -1;
    if (size < 1 || size > (1 << 16) || (size & (size - 1))) {
        PyErr_SetString(PyExc_ValueError, "UpForward(history_size): a power of two up to 65536");
        return -1;
    }
    if (self->history != NULL) {
        PyErr_SetString(PyExc_TypeError, "UpForward already initialised");
        return -1;
    }
    self->history = PyMem_Calloc((size_t)size, sizeof(PyObject *));
    if (self->history == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    self->mask = (unsigned)size - 1;
    self->media_pt = -1;
    self->down_pt = -1;
    self->level_peak = -1;
    self->downs = PyTuple_New(0);
    return self->downs == NULL ? -1 : 0;
}

static void clear_history(UpForward *self) {
    if (self->history == NULL) return;
    for (unsigned k = 0; k <= self->mask; k++) Py_CLEAR(self->history[k]);
}

static void UpForward_dealloc(UpForward *self) {
    clear_history(self);
    PyMem_Free(self->history);
    Py_XDECREF(self->downs);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *UpForward_set(UpForward *self, PyObject *const *args, Py_ssize_t nargs) {
    /* set(enabled, media_ssrc, media_pt, in_seq, seq_offset, ts_offset, out_ssrc, down_pt, downs) */
    if (nargs != 9 || !PyTuple_Check(args[8])) {
        PyErr_SetString(PyExc_TypeError, "set(enabled, media_ssrc, media_pt, in_seq, seq_offset, ts_offset, "
                                         "out_ssrc, down_pt, downs: tuple)");
        return NULL;
    }
    PyObject *downs = args[8];
    for (Py_ssize_t k = 0; k < PyTuple_GET_SIZE(downs); k++) {
        if (!PyObject_TypeCheck(PyTuple_GET_ITEM(downs, k), &DownForwardType)) {
            PyErr_SetString(PyExc_TypeError, "downs: a tuple of DownForward");
            return NULL;
        }
    }
    int enabled = PyObject_IsTrue(args[0]);
    if (enabled < 0) return NULL;
    unsigned long long v[7];
    for (int k = 0; k < 7; k++) {
        v[k] = PyLong_AsUnsignedLongLongMask(args[k + 1]);
        if (PyErr_Occurred()) return NULL;
    }
    self->enabled = enabled;
    self->media_ssrc = (uint32_t)v[0];
    self->media_pt = (int)(long long)v[1] < 0 ? -1 : (int)(v[1] & 0x7F);
    self->in_seq = (uint16_t)v[2];
    self->seq_offset = (uint16_t)v[3];
    self->ts_offset = (uint32_t)v[4];
    self->out_ssrc = (uint32_t)v[5];
    self->down_pt = (int)(long long)v[6] < 0 ? -1 : (int)(v[6] & 0x7F);
    Py_INCREF(downs);
    Py_SETREF(self->downs, downs);
    Py_RETURN_NONE;
}

static PyObject *UpForward_extensions(UpForward *self, PyObject *args) {
    /* extensions(ids: 16 bytes, audio_level_id): the one-byte header extension id map */
    const char *ids;
    Py_ssize_t n;
    int level_id;
    if (!PyArg_ParseTuple(args, "y#i", &ids, &n, &level_id)) return NULL;
    if (n != 16) {
        PyErr_SetString(PyExc_ValueError, "extensions(ids): 16 bytes");
        return NULL;
    }
    memcpy(self->ext_ids, ids, 16);
    self->level_id = level_id > 0 && level_id < 15 ? level_id : 0;
    Py_RETURN_NONE;
}

static PyObject *UpForward_disable(UpForward *self, PyObject *unused) {
    self->enabled = 0;
    Py_RETURN_NONE;
}

static PyObject *UpForward_pull(UpForward *self, PyObject *unused) {
    /* pull() -> None, or (in_seq, last_out_seq, last_out_ts, last_arrival_ms, packets_in, level_peak)
     * when packets were forwarded here since the last pull (counts and peak are then reset) */
    if (!self->dirty) Py_RETURN_NONE;
    PyObject *out = Py_BuildValue("iiKLKi", (int)self->in_seq, (int)self->last_out_seq,
                                  (unsigned long long)self->last_out_ts, self->last_arrival_ms,
                                  self->packets_in, self->level_peak);
    self->dirty = 0;
    self->packets_in = 0;
    self->level_peak = -1;
    return out;
}

static PyObject *UpForward_remember(UpForward *self, PyObject *const *args, Py_ssize_t nargs) {
    /* remember(seq, packet): keep a packet forwarded by Python in the same history */
    if (nargs != 2 || !PyBytes_CheckExact(args[1])) {
        PyErr_SetString(PyExc_TypeError, "remember(seq, packet: bytes)");
        return NULL;
    }
    long seq = PyLong_AsLong(args[0]);
    if (seq == -1 && PyErr_Occurred()) return NULL;
    Py_INCREF(args[1]);
    Py_XSETREF(self->history[(unsigned)seq & self->mask], args[1]);
    Py_RETURN_NONE;
}

static PyObject *UpForward_packet(UpForward *self, PyObject *arg) {
    /* packet(seq) -> the forwarded packet with outgoing sequence number seq, or None */
    long seq = PyLong_AsLong(arg);
    if (seq == -1 && PyErr_Occurred()) return NULL;
    PyObject *packet = self->history[(unsigned long)seq & self->mask];
    if (packet == NULL || PyBytes_GET_SIZE(packet) < 12) Py_RETURN_NONE;
    const unsigned char *d = (const unsigned char *)PyBytes_AS_STRING(packet);
    if (((d[2] << 8) | d[3]) != (seq & 0xFFFF)) Py_RETURN_NONE;
    Py_INCREF(packet);
    return packet;
}

static PyObject *UpForward_clear(UpForward *self, PyObject *unused) {
    self->enabled = 0;
    clear_history(self);
    Py_SETREF(self->downs, PyTuple_New(0));
    if (self->downs == NULL) return NULL;
    Py_RETURN_NONE;
}

static PyObject *UpForward_enabled(UpForward *self, void *unused) {
    return PyBool_FromLong(self->enabled);
}

static PyGetSetDef UpForward_getset[] = {
    {"enabled", (getter)UpForward_enabled, NULL, "whether packets are forwarded here", NULL},
    {NULL},
};

static PyMethodDef UpForward_methods[] = {
    {"set", (PyCFunction)(void (*)(void))UpForward_set, METH_FASTCALL, "push the steady-state parameters"},
    {"extensions", (PyCFunction)UpForward_extensions, METH_VARARGS, "extensions(ids: 16 bytes, audio_level_id)"},
    {"disable", (PyCFunction)UpForward_disable, METH_NOARGS, "every packet to Python until the next set()"},
    {"pull", (PyCFunction)UpForward_pull, METH_NOARGS, "state and counts Python reads, or None"},
    {"remember", (PyCFunction)(void (*)(void))UpForward_remember, METH_FASTCALL, "remember(seq, packet)"},
    {"packet", (PyCFunction)UpForward_packet, METH_O, "packet(seq) -> bytes | None (for NACKs)"},
    {"clear", (PyCFunction)UpForward_clear, METH_NOARGS, "disable, forget the history and down tracks"},
    {NULL},
};

static PyTypeObject UpForwardType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "publicrooms.media._fastpath.UpForward",
    .tp_basicsize = sizeof(UpForward),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "UpForward(history_size): an up track's steady-state forward and its NACK history",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)UpForward_init,
    .tp_dealloc = (destructor)UpForward_dealloc,
    .tp_methods = UpForward_methods,
    .tp_getset = UpForward_getset,
};

/* Rewrite one-byte header extension ids in place (RFC 8285; with write 0 only check); returns 0,
 * or -1 for Python (two-byte extensions, malformed). Unmapped elements are overwritten with zero bytes (padding),
 * exactly what rtpheader.ExtensionRewriter does. */
static int rewrite_extensions(UpForward *self, unsigned char *p, int length, int offset, int *level, int write) {
    if (length < offset + 4) return -1;
    int profile = (p[offset] << 8) | p[offset + 1];
    int end = offset + 4 + 4 * ((p[offset + 2] << 8) | p[offset + 3]);
    if (end > length || profile != 0xBEDE) return -1;
    int pos = offset + 4;
    while (pos < end) {
        int byte = p[pos];
        if (byte == 0) {
            pos++;
            continue;
        }
        int id = byte >> 4;
        int size = (byte & 0x0F) + 1;
        if (id == 15) break;
        if (id == self->level_id && pos + 1 < end) *level = p[pos + 1];
        int down = self->ext_ids[id];
        if (!down && pos + 1 + size > end) return -1; /* Python's slice assignment would change the length */
        if (write) {
            if (down)
                p[pos] = (unsigned char)((down << 4) | (byte & 0x0F));
            else
                memset(p + pos, 0, (size_t)(1 + size));
        }
        pos += 1 + size;
    }
    return 0;
}

static void send_datagram(Sender *sender, const unsigned char *data, Py_ssize_t size, int pt, DownForward *down) {
    down->packets++;
    down->octets += (unsigned long long)size;
    if (sender->fd < 0) {
        down->failed++;
        return;
    }
    if (batch.depth > 0) {
        if (queue_datagram(sender, data, size, pt) < 0) {
            sender->failed++;
            down->failed++;
        }
        return;
    }
    int length = protect_into(sender, data, size, pt);
    if (length < 0 || sendto(sender->fd, sender->buffer, (size_t)length, MSG_DONTWAIT,
                             (struct sockaddr *)&sender->addr, sender->addr_length) < 0) {
        sender->failed++;
        down->failed++;
        return;
    }
    sender->sent++;
}

/* Forward one plain RTP packet (in a scratch buffer it may rewrite) if it is the steady state's
 * next packet. Returns 1 when done, 0 for Python (nothing changed), -1 on a Python error. */
static int forward(UpForward *self, unsigned char *p, int length, long long arrival_ms) {
    if (!self->enabled || length < 12) return 0;
    int flags = p[0];
    if ((flags & 0xC0) != 0x80 || (flags & 0x20)) return 0; /* not version 2, or padding */
    if ((p[1] & 0x7F) != self->media_pt) return 0;
    uint16_t seq = (uint16_t)((p[2] << 8) | p[3]);
    if ((uint16_t)(seq - self->in_seq) != 1) return 0; /* duplicate, reordered or a gap */
    int offset = 12 + 4 * (flags & 0x0F);
    if (offset > length) return 0;
    int level = -1;
    if (flags & 0x10) {
        /* check first, so Python gets the packet as it came when it must handle it */
        if (rewrite_extensions(self, p, length, offset, &level, 0) < 0) return 0;
        rewrite_extensions(self, p, length, offset, &level, 1);
    }
    uint32_t ts = ((uint32_t)p[4] << 24) | ((uint32_t)p[5] << 16) | ((uint32_t)p[6] << 8) | p[7];
    uint16_t out_seq = (uint16_t)(seq + self->seq_offset);
    uint32_t out_ts = ts + self->ts_offset;
    p[2] = (unsigned char)(out_seq >> 8);
    p[3] = (unsigned char)out_seq;
    p[4] = (unsigned char)(out_ts >> 24);
    p[5] = (unsigned char)(out_ts >> 16);
    p[6] = (unsigned char)(out_ts >> 8);
    p[7] = (unsigned char)out_ts;
    p[8] = (unsigned char)(self->out_ssrc >> 24);
    p[9] = (unsigned char)(self->out_ssrc >> 16);
    p[10] = (unsigned char)(self->out_ssrc >> 8);
    p[11] = (unsigned char)self->out_ssrc;
    if (self->down_pt >= 0) p[1] = (unsigned char)((p[1] & 0x80) | self->down_pt);
    self->in_seq = seq;
    self->packets_in++;
    if (level >= 0 && 127 - (level & 0x7F) > self->level_peak) self->level_peak = 127 - (level & 0x7F);
    self->last_out_seq = out_seq;
    self->last_out_ts = out_ts;
    self->last_arrival_ms = arrival_ms;
    self->dirty = 1;
    PyObject *packet = PyBytes_FromStringAndSize((const char *)p, length);
    if (packet == NULL) return -1;
    Py_XSETREF(self->history[out_seq & self->mask], packet);
    PyObject *downs = self->downs;
    Py_INCREF(downs);
    for (Py_ssize_t k = 0; k < PyTuple_GET_SIZE(downs); k++) {
        DownForward *down = (DownForward *)PyTuple_GET_ITEM(downs, k);
        send_datagram(down->sender, p, length, down->patch_pt, down);
    }
    Py_DECREF(downs);
    return 1;
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
    unsigned long long packets;   /* unprotected here */
    unsigned long long forwarded; /* of which forwarded here without Python */
    int tracks;
    uint32_t ssrcs[MAX_TRACKS];
    UpForward *forwards[MAX_TRACKS];
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
    for (int k = 0; k < self->tracks; k++) Py_VISIT(self->forwards[k]);
    return 0;
}

static void untrack_all(Receiver *self) {
    int n = self->tracks;
    self->tracks = 0;
    for (int k = 0; k < n; k++) Py_CLEAR(self->forwards[k]);
}

static int Receiver_clear(Receiver *self) {
    untrack_all(self);
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
    return Py_BuildValue("KKi", self->packets, self->forwarded, self->tracks);
}

static PyObject *Receiver_track(Receiver *self, PyObject *const *args, Py_ssize_t nargs) {
    /* track(ssrc, forward): RTP of that SSRC may be forwarded by `forward`; track(ssrc, None) stops */
    if (nargs != 2 || (args[1] != Py_None && !PyObject_TypeCheck(args[1], &UpForwardType))) {
        PyErr_SetString(PyExc_TypeError, "track(ssrc, forward: UpForward | None)");
        return NULL;
    }
    uint32_t ssrc = (uint32_t)PyLong_AsUnsignedLongLongMask(args[0]);
    if (PyErr_Occurred()) return NULL;
    int k = 0;
    while (k < self->tracks && self->ssrcs[k] != ssrc) k++;
    if (args[1] == Py_None) {
        if (k < self->tracks) {
            UpForward *old = self->forwards[k];
            self->tracks--;
            self->ssrcs[k] = self->ssrcs[self->tracks];
            self->forwards[k] = self->forwards[self->tracks];
            Py_DECREF(old);
        }
        Py_RETURN_NONE;
    }
    if (k == self->tracks) {
        if (self->tracks == MAX_TRACKS) Py_RETURN_FALSE; /* Python keeps handling that SSRC */
        self->tracks++;
        self->ssrcs[k] = ssrc;
        self->forwards[k] = NULL;
    }
    Py_INCREF(args[1]);
    Py_XSETREF(self->forwards[k], (UpForward *)args[1]);
    Py_RETURN_TRUE;
}

static PyObject *Receiver_untrack_all(Receiver *self, PyObject *unused) {
    untrack_all(self);
    Py_RETURN_NONE;
}

static PyMethodDef Receiver_methods[] = {
    {"track", (PyCFunction)(void (*)(void))Receiver_track, METH_FASTCALL, "track(ssrc, forward | None) -> bool"},
    {"untrack_all", (PyCFunction)Receiver_untrack_all, METH_NOARGS, "forget every SSRC"},
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
    unsigned long long forwarded; /* of the handled, forwarded here without Python */
    PyObject *time;     /* poll(): time() -> seconds since the epoch (an injected clock), or NULL: the system's */
    PyObject *dispatch; /* poll(): dispatch([(data, (host, port)), ...]) for the rest */
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
    PyObject *time = NULL, *dispatch = NULL;
    if (!PyArg_ParseTuple(args, "i|OO", &fd, &time, &dispatch)) return -1;
    if (time == Py_None) time = NULL; /* the system's wall clock, read here without a call into Python */
    if ((time != NULL && !PyCallable_Check(time)) || (dispatch != NULL && !PyCallable_Check(dispatch))) {
        PyErr_SetString(PyExc_TypeError, "Demux(fd[, time, dispatch]): time is a callable or None, dispatch a callable");
        return -1;
    }
    self->fd = fd;
    Py_XINCREF(time);
    Py_XSETREF(self->time, time);
    Py_XINCREF(dispatch);
    Py_XSETREF(self->dispatch, dispatch);
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
    Py_VISIT(self->time);
    Py_VISIT(self->dispatch);
    for (int b = 0; b < ROUTE_BUCKETS; b++)
        for (Route *route = self->buckets[b]; route != NULL; route = route->next) Py_VISIT(route->receiver);
    return 0;
}

static int Demux_clear(Demux *self) {
    clear_routes(self);
    Py_CLEAR(self->time);
    Py_CLEAR(self->dispatch);
    return 0;
}

static void Demux_dealloc(Demux *self) {
    PyObject_GC_UnTrack(self);
    Demux_clear(self);
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
    static int ready = 0;
    if (!PyLong_Check(arrival)) {
        PyErr_SetString(PyExc_TypeError, "read(arrival_ms: int)");
        return NULL;
    }
    PyObject *result = PyList_New(0);
    if (result == NULL) return NULL;
    if (self->fd < 0) return result;
    if (!ready) {
        for (int k = 0; k < BATCH; k++) {
            iov[k].iov_base = data[k];
            iov[k].iov_len = RECV_BYTES;
            memset(&msgs[k], 0, sizeof(msgs[k]));
            msgs[k].msg_hdr.msg_name = &addrs[k];
            msgs[k].msg_hdr.msg_iov = &iov[k];
            msgs[k].msg_hdr.msg_iovlen = 1;
        }
        ready = 1;
    }
    for (int k = 0; k < BATCH; k++) {
        msgs[k].msg_hdr.msg_namelen = sizeof(addrs[k]);
        msgs[k].msg_hdr.msg_flags = 0;
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
                    unsigned long long before = receiver->forwarded;
                    int status = receiver_take(receiver, plain, length, arrival);
                    self->forwarded += receiver->forwarded - before;
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
    if (receiver->tracks && length >= 12) {
        uint32_t ssrc = ((uint32_t)plain[8] << 24) | ((uint32_t)plain[9] << 16) | ((uint32_t)plain[10] << 8) | plain[11];
        for (int k = 0; k < receiver->tracks; k++) {
            UpForward *forward_to = receiver->forwards[k];
            if (receiver->ssrcs[k] != ssrc || forward_to->media_ssrc != ssrc) continue;
            long long arrival_ms = PyLong_AsLongLong(arrival);
            if (arrival_ms == -1 && PyErr_Occurred()) return -1;
            int done = forward(forward_to, plain, length, arrival_ms);
            if (done < 0) return -1;
            if (done) {
                receiver->forwarded++;
                return 0;
            }
            break;
        }
    }
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

#define NTP_UNIX_OFFSET_S 2208988800.0

static PyObject *Demux_poll(Demux *self, PyObject *unused) {
    /* poll(): the socket is readable (the event loop's reader callback). Reads one batch, handles
     * routed SRTP here, hands the rest to dispatch(list), all inside one send batch. Never raises:
     * a failing dispatch is reported as unraisable (the loop's reader must stay registered). */
    double now;
    if (self->fd < 0) Py_RETURN_NONE;
    if (self->time != NULL) {
        PyObject *t = PyObject_CallNoArgs(self->time);
        if (t == NULL) goto report;
        now = PyFloat_AsDouble(t);
        Py_DECREF(t);
        if (now == -1.0 && PyErr_Occurred()) goto report;
    } else {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        now = (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
    }
    PyObject *arrival = PyLong_FromLongLong((long long)((now + NTP_UNIX_OFFSET_S) * 1000.0));
    if (arrival == NULL) goto report;
    batch.depth++;
    PyObject *rest = Demux_read(self, arrival);
    Py_DECREF(arrival);
    if (rest != NULL && PyList_GET_SIZE(rest) && self->dispatch != NULL) {
        PyObject *out = PyObject_CallOneArg(self->dispatch, rest);
        Py_XDECREF(out);
        if (out == NULL) Py_CLEAR(rest);
    }
    if (batch.depth > 0) batch.depth--;
    if (batch.depth == 0 && batch.count) flush_batch();
    if (rest == NULL) goto report;
    Py_DECREF(rest);
    Py_RETURN_NONE;
report:
    PyErr_WriteUnraisable((PyObject *)self);
    Py_RETURN_NONE;
}

static PyObject *Demux_close(Demux *self, PyObject *unused) {
    Demux_clear(self);
    self->fd = -1;
    Py_RETURN_NONE;
}

static PyObject *Demux_counts(Demux *self, PyObject *unused) {
    return Py_BuildValue("KKKnK", self->handled, self->passed, self->errors, self->routes, self->forwarded);
}

static PyMethodDef Demux_methods[] = {
    {"route", (PyCFunction)(void (*)(void))Demux_route, METH_FASTCALL, "route(host, port, receiver)"},
    {"unroute", (PyCFunction)(void (*)(void))Demux_unroute, METH_FASTCALL, "unroute(host, port) -> bool"},
    {"read", (PyCFunction)Demux_read, METH_O, "read(arrival_ms) -> [(data, (host, port))] for Python"},
    {"poll", (PyCFunction)Demux_poll, METH_NOARGS, "poll(): read, handle, dispatch the rest, send (reader callback)"},
    {"close", (PyCFunction)Demux_close, METH_NOARGS, "forget every route and stop reading"},
    {"counts", (PyCFunction)Demux_counts, METH_NOARGS, "(handled, passed to Python, sink errors, routes, forwarded)"},
    {NULL},
};

static PyTypeObject DemuxType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "publicrooms.media._fastpath.Demux",
    .tp_basicsize = sizeof(Demux),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "Demux(fd[, time, dispatch]): recvmmsg on a shared socket, SRTP routed by remote address to Receivers",
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
        PyType_Ready(&DownForwardType) < 0 || PyType_Ready(&UpForwardType) < 0 ||
        PyType_Ready(&DemuxType) < 0)
        return NULL;
    PyObject *module = PyModule_Create(&fastpath_module);
    if (module == NULL) return NULL;
    Py_INCREF(&SenderType);
    Py_INCREF(&UnprotectorType);
    Py_INCREF(&ReceiverType);
    Py_INCREF(&DemuxType);
    Py_INCREF(&DownForwardType);
    Py_INCREF(&UpForwardType);
    if (PyModule_AddObject(module, "Sender", (PyObject *)&SenderType) < 0 ||
        PyModule_AddObject(module, "Unprotector", (PyObject *)&UnprotectorType) < 0 ||
        PyModule_AddObject(module, "Receiver", (PyObject *)&ReceiverType) < 0 ||
        PyModule_AddObject(module, "Demux", (PyObject *)&DemuxType) < 0 ||
        PyModule_AddObject(module, "DownForward", (PyObject *)&DownForwardType) < 0 ||
        PyModule_AddObject(module, "UpForward", (PyObject *)&UpForwardType) < 0) {
        Py_DECREF(module);
        return NULL;
    }
    PyModule_AddIntConstant(module, "BUFFER_BYTES", BUFFER_BYTES);
    PyModule_AddIntConstant(module, "BATCH", BATCH);
    return module;
}
