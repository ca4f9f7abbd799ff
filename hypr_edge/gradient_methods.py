"""Three ways to the gradient of the same RSNN loss (HYPR.md sections 4-5).

  bptt     autograd through time: exact (with the surrogate), memory O(T)
  forward  the step-by-step eligibility rule of section 4: a slow, explicit reference
  hypr     section 5: the forward rule regrouped by chunks of `chunk` steps; memory independent of T,
           per-step work only in the S-stage and one backward recursion, the rest batched over the chunk.
           Equals `forward` for every chunk length.

The loss is softmax cross-entropy of the readout at every loss-carrying step (the last `loss_steps`, or all),
averaged over the batch and over those steps. The readout's own gradient is exact in `forward` and `hypr`
(a leaky integrator without recurrence: its eligibility is a running filter of the spikes).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .model import RSNN

METHODS = ("bptt", "forward", "hypr")


class GradientInputError(ValueError):
    """What gradients() refuses (a bad method, shape, label or parameter), said in one line; `hypr-edge train`
    turns it into a CommandError."""


# HYPR's per-neuron quantities are kept "neurons last", time first: A (T, d, d, B, N), vectors (T, d, B, N). A sum
# over the d <= 3 state components is then d multiply-adds over whole contiguous (..., B, N) slabs: ~3x faster than
# einsum/bmm over B*N tiny matrices, which runs one small GEMM per neuron on CPU.
def _combine(w, v, out=None):
    """sum_j w[j] * v[j] over the leading axis (broadcasting the rest), as len(v) multiply-adds."""
    out = torch.mul(w[0], v[0], out=out)
    for j in range(1, len(v)):
        out.addcmul_(w[j], v[j])
    return out


def _matmul_t(A, Q, out=None):
    """A^T Q per neuron, for A (d, d, B, N) and Q (d, k, B, N)."""
    return _combine(A.unsqueeze(2), Q, out)


def loss_weights(steps: int, loss_steps: int | None, batch: int, dtype=torch.float64, device=None) -> torch.Tensor:
    """Per-step weight of the summed cross-entropy: 1 / (batch * K) on the last K steps, 0 before."""
    k = steps if loss_steps is None else int(loss_steps)
    if not 1 <= k <= steps:
        raise GradientInputError(f"loss_steps must be in 1..{steps}, got {loss_steps}")
    w = torch.zeros(steps, dtype=dtype, device=device)
    w[steps - k:] = 1.0 / (batch * k)
    return w


def sequence_loss(o: torch.Tensor, y: torch.Tensor, loss_steps: int | None = None) -> torch.Tensor:
    """o: (B, T, C) readout, y: (B,) class per sequence."""
    batch, steps, n_out = o.shape
    w = loss_weights(steps, loss_steps, batch, o.dtype, o.device)
    ce = F.cross_entropy(o.reshape(-1, n_out), y.repeat_interleave(steps), reduction="none").view(batch, steps)
    return (ce * w).sum()


def predict(o: torch.Tensor, loss_steps: int | None = None) -> torch.Tensor:
    """Class decision: argmax of the readout averaged over the loss-carrying steps."""
    k = o.shape[1] if loss_steps is None else loss_steps
    return o[:, -k:].mean(1).argmax(-1)


@dataclass
class _Chunk:
    """What the S-stage of one chunk (T steps) leaves for the learning rules, per layer (HYPR.md sections 3, 5)."""
    A: torch.Tensor    # (T, d, d, B, N)
    c: torch.Tensor    # (T, d, B, N)
    D: torch.Tensor    # (T, P, d, B, N)
    g: torch.Tensor    # (T, d, B, N)
    pre: torch.Tensor  # (T, B, M): the presynaptic values [x_t, z_{t-1}, 1] of the columns of [W_in | W_rec | b]


class _Online:
    """Runs the network chunk by chunk without a graph and keeps what the learning rules need: neuron states,
    the readout, the readout's exact eligibility and gradient."""

    def __init__(self, model: RSNN, x: torch.Tensor, y: torch.Tensor, loss_steps: int | None):
        self.model, self.x = model, x
        batch, steps, _ = x.shape
        self.w = loss_weights(steps, loss_steps, batch, x.dtype, x.device)
        self.target = F.one_hot(y, model.n_outputs).to(x.dtype)
        self.states = [layer.initial_state(batch) for layer in model.layers]
        self.spikes = [model.neuron.spike(s) for s in self.states]  # z_{t-1} of each layer
        self.o = x.new_zeros(batch, model.n_outputs)
        self.e_out = x.new_zeros(batch, model.n_outputs, model.layers[-1].n)  # d o / d W_out, carried
        self.e_bout = x.new_zeros(batch, model.n_outputs)
        self.grads = {name: torch.zeros_like(p) for name, p in model.named_parameters()}
        self.loss = x.new_zeros(())

    def run(self, t0: int, t1: int) -> tuple[list[_Chunk], torch.Tensor]:
        """S-stage of steps t0..t1-1. Returns each layer's _Chunk and dE_t/do_t (T, B, C); adds the readout's
        gradient."""
        inp = self.x[:, t0:t1].transpose(0, 1)  # (T, B, N_in)
        chunks = []
        # Layer by layer through the whole chunk (layer i at step t needs layer i-1 at step t only): the input
        # currents are then one product per chunk, and only the recurrence runs step by step.
        for i, layer in enumerate(self.model.layers):
            s, z, current = self._layer_forward(i, inp)
            local = self.model.neuron.local(s[:-1], current, layer.theta, dim=1)
            ones = inp.new_ones(*inp.shape[:-1], 1)
            pre = torch.cat([inp, z[:-1], ones] if layer.w_rec is not None else [inp, ones], -1)
            chunks.append(_Chunk(*local, self.model.neuron.g(s[1:], dim=1), pre))
            inp = z[1:]
        return chunks, self._readout(inp, t0, t1)

    def _layer_forward(self, i: int, inp: torch.Tensor):
        """Layer i through the chunk's inputs (T, B, M): states (T + 1, B, N, d) and spikes (T + 1, B, N), each from
        the chunk's start, and the currents (T, B, N)."""
        layer, nrn = self.model.layers[i], self.model.neuron
        theta, steps = layer.theta, len(inp)
        # Written step by step into buffers made once per chunk: per-step tensors kept in lists until the chunk's
        # end would scatter over the heap, and the peak memory would creep up from chunk to chunk. The states are
        # stored component by component (a (T + 1, B, N, d) view): `local` reads the components one by one.
        s = inp.new_empty(nrn.d, steps + 1, *self.spikes[i].shape).movedim(0, -1)
        z = inp.new_empty(steps + 1, *self.spikes[i].shape)
        s[0], z[0] = self.states[i], self.spikes[i]
        current = layer.input_current(inp)  # W_in x_t + b for the whole chunk, then I_t in place
        for k in range(steps):
            current[k] = layer.add_recurrent(current[k], z[k])
            s[k + 1] = nrn.step(s[k], current[k], theta, z[k])
            z[k + 1] = nrn.spike(s[k + 1])
        self.states[i].copy_(s[-1])
        self.spikes[i].copy_(z[-1])
        return s, z, current

    def _readout(self, z: torch.Tensor, t0: int, t1: int) -> torch.Tensor:
        """The readout through the chunk from the top layer's spikes z (T, B, N): adds the loss and the readout's
        gradient, returns dE_t/do_t (T, B, C)."""
        ro = self.model.readout
        o = ro.drive(z)
        for k in range(len(o)):  # o_t = alpha o_{t-1} + drive_t, in place
            o[k].addcmul_(ro.alpha_out, o[k - 1] if k else self.o)
        self.o.copy_(o[-1])
        logp = torch.log_softmax(o, -1)
        w = self.w[t0:t1, None, None]
        self.loss += -(w * logp * self.target).sum()
        err = w * (logp.exp() - self.target)
        self._readout_grads(err, z)
        return err

    def _readout_grads(self, err, z):
        """Exact readout gradient for a chunk: the readout is a leaky integrator, so HYPR's regrouping with
        A = alpha_o (a scalar per output) applies: rho_t = err_t + alpha rho_{t+1}."""
        a = self.model.readout.alpha_out
        rho = err.clone()
        for k in range(len(err) - 2, -1, -1):
            rho[k].addcmul_(a, rho[k + 1])
        g = self.grads
        g["readout.w_out"] += (torch.einsum("tbc,tbn->cn", (1 - a) * rho, z)
                               + torch.einsum("bc,bcn->cn", a * rho[0], self.e_out))
        g["readout.b_out"] += ((1 - a) * rho).sum((0, 1)) + (a * rho[0] * self.e_bout).sum(0)
        # alpha^(lambda - t), (T, C)
        decay = a ** torch.arange(len(err) - 1, -1, -1, dtype=a.dtype, device=a.device)[:, None]
        self.e_out.mul_(a[:, None] ** len(err)).add_(torch.einsum("tc,tbn->bcn", decay * (1 - a), z))
        self.e_bout.mul_(a ** len(err)).add_((decay * (1 - a)).sum(0))

    def signals(self, err: torch.Tensor, chunks: list[_Chunk]) -> list[torch.Tensor]:
        """State-level learning signals l_t (T, d, B, N) per layer (spatial only)."""
        ro = self.model.readout
        big_l = (err * (1 - ro.alpha_out)) @ ro.w_out  # dE_t/dz_t of the top layer, (T, B, N)
        out = [None] * len(chunks)
        for i in reversed(range(len(chunks))):
            out[i] = big_l.unsqueeze(1) * chunks[i].g
            if i:  # pass down through layer i's input weights: W^T (l . c)
                big_l = (out[i] * chunks[i].c).sum(1) @ self.model.layers[i].w_in
        return out


def _n_synapses(layer) -> int:
    """Columns of [W_in | W_rec | b]."""
    return layer.n_in + (layer.n if layer.w_rec is not None else 0) + 1


def _add_layer_grads(grads, model, i, g_syn, g_theta):
    """Layer i's share: g_syn (N, M) by the columns of [W_in | W_rec | b], g_theta (P, N)."""
    layer = model.layers[i]
    grads[f"layers.{i}.w_in"] += g_syn[:, :layer.n_in]
    if layer.w_rec is not None:
        grads[f"layers.{i}.w_rec"] += g_syn[:, layer.n_in:-1]
    grads[f"layers.{i}.bias"] += g_syn[:, -1]
    for k, name in enumerate(model.neuron.param_names):
        grads[f"layers.{i}.{name}"] += g_theta[k]


@torch.no_grad()
def _forward_rule(model, x, y, loss_steps):
    run = _Online(model, x, y, loss_steps)
    batch, d, n_param = x.shape[0], model.neuron.d, len(model.neuron.param_names)
    # per layer: eligibilities of the synapses [W_in | W_rec | b] (B, N, M, d) and of theta (B, N, P, d)
    elig = [[x.new_zeros(batch, layer.n, _n_synapses(layer), d), x.new_zeros(batch, layer.n, n_param, d)]
            for layer in model.layers]
    for t in range(x.shape[1]):
        chunks, err = run.run(t, t + 1)
        for i, (ch, l, e) in enumerate(zip(chunks, run.signals(err, chunks), elig)):
            # this step's quantities, neurons first: A (B, N, d, d), c and l (B, N, d), D (B, N, P, d), inputs (B, M)
            A, D = ch.A[0].permute(2, 3, 0, 1), ch.D[0].permute(2, 3, 0, 1)
            c, l, pre = ch.c[0].permute(1, 2, 0), l[0].permute(1, 2, 0), ch.pre[0]

            def carry(e_prev):  # e_t = A_t e_{t-1}, per neuron, for every synapse index
                return torch.einsum("bnij,bn...j->bn...i", A, e_prev)
            e[0] = carry(e[0]) + c[:, :, None, :] * pre[:, None, :, None]
            e[1] = carry(e[1]) + D
            _add_layer_grads(run.grads, model, i, torch.einsum("bnd,bnmd->nm", l, e[0]),
                             torch.einsum("bnd,bnpd->pn", l, e[1]))
    return run.loss, run.grads


def _backward_in_chunk(A, l):
    """P-stage: q_t = l_t + A_{t+1}^T q_{t+1} backward from q_lambda = l_lambda. The rows of the propagators
    Phi_t = A_lambda ... A_{t+1} obey the same recursion, Phi_t^T = A_{t+1}^T Phi_{t+1}^T from Phi_lambda = I, so
    both run as one: Q_t = [q_t | Phi_t^T] (d x (1 + d) per neuron), one product per step.
    A (T, d, d, B, N), l (T, d, B, N) -> Q (T, d, 1 + d, B, N) and Q_0 = A_1^T Q_1 = [q_0 | Phi_0^T]."""
    steps, d = A.shape[:2]
    Q = A.new_empty(steps, d, 1 + d, *A.shape[3:])
    Q[-1, :, 0] = l[-1]
    Q[-1, :, 1:] = torch.eye(d, dtype=A.dtype, device=A.device)[:, :, None, None]
    for k in range(steps - 2, -1, -1):
        _matmul_t(A[k + 1], Q[k + 1], out=Q[k])
        Q[k, :, 0] += l[k]
    return Q, _matmul_t(A[0], Q[0])


def _chunk_gradient(ch: _Chunk, l: torch.Tensor, e_syn: torch.Tensor, e_theta: torch.Tensor, out=None):
    """One layer's gradient from one chunk, and its eligibilities carried to the chunk's end (HYPR.md section 5,
    steps 3-5). e_syn (B, d, N, M): synapses [W_in | W_rec | b]; e_theta (P, d, B, N); both at the chunk's start.
    out: an optional (B, 1 + d, N, M) buffer, not e_syn's, for the synapses' result.
    Returns grad synapses (N, M), grad theta (P, N), e_syn (a view into out) and e_theta at the chunk's end."""
    batch, m = ch.pre.shape[1:]
    Q, Q0 = _backward_in_chunk(ch.A, l)
    Q_j = Q.transpose(0, 1)  # (d, T, 1 + d, B, N): the component summed over below comes first, for _combine
    # Each product with Q has 1 + d rows: row 0 is the gradient's share (q . x), rows 1.. the eligibility's (Phi x).
    # Synapses: [q_0 | Phi_0^T]^T e_0 + sum_t [q_t . c_t | Phi_t c_t] pre_t^T, the sum as one batched matmul.
    # (Q0 made contiguous: the multiply-adds over e_0, the largest tensor, run ~30 % faster.)
    syn = _combine(Q0.permute(0, 2, 1, 3).contiguous().unsqueeze(-1), e_syn.transpose(0, 1).unsqueeze(2), out)
    qc = _combine(ch.c.transpose(0, 1).unsqueeze(2), Q_j)  # (T, 1 + d, B, N)
    qc = qc.permute(2, 0, 1, 3).reshape(batch, len(qc), -1)  # (B, T, (1 + d) N)
    syn.view(batch, -1, m).baddbmm_(qc.transpose(1, 2), ch.pre.transpose(0, 1))  # syn: (B, 1 + d, N, M)
    # theta, per neuron: [q_0 | Phi_0^T]^T e_0 + sum_t [q_t . D_t | Phi_t D_t]
    theta = _combine(Q0.unsqueeze(1), e_theta.transpose(0, 1).unsqueeze(2))  # (P, 1 + d, B, N)
    theta += _combine(ch.D.permute(2, 0, 1, 3, 4).unsqueeze(3), Q_j.unsqueeze(2)).sum(0)
    return syn[:, 0].sum(0), theta[:, 0].sum(1), syn[:, 1:], theta[:, 1:]


def _hypr_chunk(run: _Online, elig: list, out: list, t0: int, t1: int):
    """Steps t0..t1-1: S-stage and learning signals, then per layer the chunk's gradient and the eligibilities'
    carry. elig: per layer [e_syn, e_theta], updated; out: per layer a buffer for the synapses' result. (A function
    of its own so that nothing of this chunk outlives it: the next chunk's buffers then reuse the same memory.)"""
    chunks, err = run.run(t0, t1)
    for i, (ch, l) in enumerate(zip(chunks, run.signals(err, chunks))):
        g_syn, g_theta, elig[i][0], e_theta = _chunk_gradient(ch, l, *elig[i], out=out[i])
        elig[i][1].copy_(e_theta)
        _add_layer_grads(run.grads, run.model, i, g_syn, g_theta)


@torch.no_grad()
def _hypr(model, x, y, loss_steps, chunk, on_chunk=None):
    run = _Online(model, x, y, loss_steps)
    batch, d, n_param = x.shape[0], model.neuron.d, len(model.neuron.param_names)
    # Eligibilities per layer at the chunk start: synapses [W_in | W_rec | b] (B, d, N, M) and theta (P, d, B, N).
    # The synapses' chunk result (B, 1 + d, N, M), whose rows 1.. are the next eligibility, alternates between two
    # buffers: the largest tensor is never reallocated, which keeps the peak memory steady from chunk to chunk.
    bufs = [x.new_zeros(2, batch, 1 + d, layer.n, _n_synapses(layer)) for layer in model.layers]
    elig = [[buf[1, :, 1:], x.new_zeros(n_param, d, batch, layer.n)] for buf, layer in zip(bufs, model.layers)]
    steps = x.shape[1]
    for k, t0 in enumerate(range(0, steps, chunk)):
        _hypr_chunk(run, elig, [buf[k % 2] for buf in bufs], t0, min(t0 + chunk, steps))
        if on_chunk is not None:
            on_chunk(run.grads)
    return run.loss, run.grads


def _bptt(model, x, y, loss_steps):
    with torch.enable_grad():
        loss = sequence_loss(model(x), y, loss_steps)
        names, params = zip(*model.named_parameters())
        grads = torch.autograd.grad(loss, params, allow_unused=True)
    return loss.detach(), {n: torch.zeros_like(p) if g is None else g for n, p, g in zip(names, params, grads)}


def check_inputs(model: RSNN, x: torch.Tensor, y: torch.Tensor) -> None:
    """Refuse (GradientInputError) what would give a wrong or NaN gradient instead of an error: shapes, labels
    outside 0..C-1, non-finite inputs or parameters, neuron parameters outside their model's domain (BRF's
    delta*omega >= 1, where p(omega) is not real)."""
    if x.ndim != 3 or x.shape[2] != model.n_inputs:
        raise GradientInputError(f"inputs must have shape (batch, steps, {model.n_inputs}), got {tuple(x.shape)}")
    if y.shape != (x.shape[0],):
        raise GradientInputError(f"targets must have shape ({x.shape[0]},), got {tuple(y.shape)}")
    if y.dtype.is_floating_point or y.dtype.is_complex or y.dtype == torch.bool:
        raise GradientInputError(f"labels must be integers, got {y.dtype}")
    if x.device.type == "meta":  # meta tensors hold no values: only shapes and devices can be checked
        return
    n_out = model.n_outputs
    if len(y) and not bool(((y >= 0) & (y < n_out)).all()):
        raise GradientInputError(f"labels must lie in 0..{n_out - 1} (the readout has {n_out} classes), got "
                                 f"{int(y.min())}..{int(y.max())}")
    # in slices of time: isfinite's temporaries over the whole (B, T, n) input would grow HYPR's memory with T
    if not all(bool(torch.isfinite(x[:, t:t + 1024]).all()) for t in range(0, x.shape[1], 1024)):
        raise GradientInputError("inputs hold NaN or infinite values")
    for name, p in model.named_parameters():
        if not bool(torch.isfinite(p).all()):
            raise GradientInputError(f"parameter {name} holds NaN or infinite values")
    for i, layer in enumerate(model.layers):
        message = model.neuron.domain_error(layer.theta)
        if message:
            raise GradientInputError(f"layer {i}: {message}")


def gradients(model: RSNN, x: torch.Tensor, y: torch.Tensor, method: str = "hypr", chunk: int | None = None,
              loss_steps: int | None = None, return_loss: bool = False,
              on_chunk: Callable[[dict[str, torch.Tensor]], None] | None = None):
    """Gradient of the mean cross-entropy w.r.t. every parameter, as a dict by parameter name.

    x: (B, T, n_inputs) inputs; y: (B,) class labels; chunk: HYPR's chunk length lambda (default: T);
    loss_steps: loss on the last K steps only (default: all). With return_loss, returns (loss, grads).
    on_chunk (HYPR only): called after every chunk with the gradient accumulated so far, the dict that is returned
    in the end; it may update the parameters and zero (some of) its entries, e.g. an SGD step after every chunk as
    on a device. The next chunk then runs with the updated parameters.
    x and y are moved to the model's device (and x to its dtype); every tensor the methods create is made there.
    Bad input (see check_inputs) raises GradientInputError, a ValueError with a one-line message.
    """
    if method not in METHODS:
        raise GradientInputError(f"unknown gradient method {method!r}; expected one of {', '.join(METHODS)}")
    if on_chunk is not None and method != "hypr":
        raise GradientInputError("on_chunk needs method='hypr'")
    param = model.readout.w_out
    x = x.to(device=param.device, dtype=param.dtype)
    y = y.to(param.device)
    check_inputs(model, x, y)
    if method == "bptt":
        loss, grads = _bptt(model, x, y, loss_steps)
    elif method == "forward":
        loss, grads = _forward_rule(model, x, y, loss_steps)
    else:
        chunk = x.shape[1] if chunk is None else int(chunk)
        if chunk < 1:
            raise GradientInputError(f"chunk length must be >= 1, got {chunk}")
        loss, grads = _hypr(model, x, y, loss_steps, chunk, on_chunk)
    return (loss, grads) if return_loss else grads
