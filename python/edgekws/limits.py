"""The limits every edgekws reader checks before it allocates (one table, see docs/limits.md).

Inputs come from files and sockets that anyone may have written, so each reader checks
the sizes an input *declares* against these bounds first, and refuses what exceeds them
with an error naming the value and the limit. The bounds are far above anything the
project makes (a one-second keyword clip, a 36 KB model, 1 KB packets) and far below what
would exhaust a small machine: no accepted input makes a reader allocate more than about
512 MB.
"""
from __future__ import annotations

# -- WAV files (edgekws.data.wavio) ----------------------------------------------------
#: Lowest and highest sample rate a WAV header may declare, in Hz.
WAV_MIN_RATE = 4_000
WAV_MAX_RATE = 192_000
#: Most channels a WAV file may have (they are averaged to mono).
WAV_MAX_CHANNELS = 8
#: Bits per sample accepted (16-bit PCM only).
WAV_BITS = (16,)
#: Longest WAV file read, in seconds: Speech Commands' background noises run 95 s.
WAV_MAX_SECONDS = 300
#: Input frames read and resampled at a time (memory of the streaming resampler).
WAV_CHUNK_FRAMES = 65_536

# -- model files (edgekws.golden.fileformat) ---------------------------------------------
#: Largest .ekws file read, in bytes (the shipped model is 36 KB).
MODEL_MAX_BYTES = 64 * 2**20
#: Largest JSON metadata block, in bytes.
MODEL_MAX_META_BYTES = 2**20
#: Deepest nesting of JSON lists/objects in the metadata (the format itself needs 5).
MODEL_MAX_JSON_DEPTH = 32
#: Most layers in a model.
MODEL_MAX_LAYERS = 64
#: Largest integer in a layer's configuration (units, filters, input sizes, kernels).
MODEL_MAX_DIM = 65_536
#: Most values in one layer's input or output (X * Y * C).
MODEL_MAX_ACTIVATIONS = 2**22
#: Longest layer name, in characters.
MODEL_MAX_NAME = 256

# -- numpy arrays (edgekws tune) ---------------------------------------------------------
#: Largest .npy/.npz file read, in bytes.
NPY_MAX_BYTES = 512 * 2**20

# -- board servers (edgekws.host.server) -------------------------------------------------
#: Connections the listening socket queues before refusing.
SERVER_BACKLOG = 8
#: Clients served at once; one more gets a "busy" line and is closed.
SERVER_MAX_CLIENTS = 8
#: Seconds a client may stay silent before it is disconnected.
SERVER_IDLE_SECONDS = 30.0
#: Seconds a reply may take to be written to a client that does not read.
SERVER_WRITE_SECONDS = 5.0

# -- command line (edgekws.cliargs) ------------------------------------------------------
#: Most copies of a recording ``board enrol`` makes (augmented copies kept in memory).
ENROL_MAX_COPIES = 1_000
#: Largest enrolment journal (``STATE.enrol``: the frames of one enrolment, base64), in
#: bytes; an enrolment with more frames is refused before it starts.
ENROL_JOURNAL_MAX_BYTES = 96 * 2**20
#: Longest timeout accepted for a board request, in seconds.
MAX_TIMEOUT = 3600.0
