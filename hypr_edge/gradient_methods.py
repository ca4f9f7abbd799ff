"""Three ways to the gradient of the same RSNN loss (HYPR.md sections 4-5).

  bptt     autograd through time: exact (with the surrogate), memory O(T)
  forward  the step-by-step eligibility rule of section 4: a slow, explicit reference
  hypr     section 5: the forward rule regrouped by chunks of `chunk` steps; memory independent of T,
           in-chunk sums as batched products. Equals `forward` for every chunk length.

The loss is softmax cross-entropy of the readout at every loss-carrying step (the last `loss_steps`, or all),
averaged over the batch and over those steps. The readout's own gradient is exact in `forward` and `hypr`
(a leaky integrator without recurrence: its eligibility is a running filter of the spikes).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .model import RSNN

METHODS = ("bptt", "forward", "hypr")


# Per-neuron d x d products in a "neurons last" layout: (d, d, B, N) matrices, (d, B, N) vectors. With d <= 3,
# elementwise products over contiguous neuron axes are ~5x faster than batched matmul on (B, N, d, d)
# (measured: 43 vs 216 us for 32 x 128 neurons).
def _matvec(A, v):
    """A v: (d, d, ...), (d, ...) -> (d, ...)."""
    return (A * v.unsqueeze(0)).sum(1)


def _matvec_t(A, v):
    """A^T v."""
    return (A * v.unsqueeze(1)).sum(0)


def _matmul(P, A):
    """P A for (d, d, ...) and (d, k, ...)."""
    return (P.unsqueeze(2) * A.unsqueeze(0)).sum(1)


def loss_weights(steps: int, loss_steps: int | None, batch: int, dtype=torch.float64) -> torch.Tensor:
    """Per-step weight of the summed cross-entropy: 1 / (batch * K) on the last K steps, 0 before."""
    k = steps if loss_steps is None else int(loss_steps)
    if not 1 <= k <= steps:
        raise ValueError(f"loss_steps must be in 1..{steps}, got {loss_steps}")
    w = torch.zeros(steps, dtype=dtype)
    w[steps - k:] = 1.0 / (batch * k)
    return w


def sequence_loss(o: torch.Tensor, y: torch.Tensor, loss_steps: int | None = None) -> torch.Tensor:
    """o: (B, T, C) readout, y: (B,) class per sequence."""
    batch, steps, n_out = o.shape
    w = loss_weights(steps, loss_steps, batch, o.dtype).to(o.device)
    ce = F.cross_entropy(o.reshape(-1, n_out), y.repeat_interleave(steps), reduction="none").view(batch, steps)
    return (ce * w).sum()


def predict(o: torch.Tensor, loss_steps: int | None = None) -> torch.Tensor:
    """Class decision: argmax of the readout averaged over the loss-carrying steps."""
    k = o.shape[1] if loss_steps is None else loss_steps
    return o[:, -k:].mean(1).argmax(-1)


@dataclass
class _Local:
    """What one step of one layer leaves for the learning rule (HYPR.md section 3)."""
    A: torch.Tensor       # (B, N, d, d)
    c: torch.Tensor       # (B, N, d)
    D: torch.Tensor       # (B, N, P, d)
    g: torch.Tensor       # (B, N, d)
    inp: torch.Tensor     # (B, N_in): the input that entered I_t
    z_prev: torch.Tensor  # (B, N): the recurrent input z_{t-1}


class _Online:
    """Runs the network chunk by chunk without a graph and keeps what the learning rules need: neuron states,
    the readout, the readout's exact eligibility and gradient."""

    def __init__(self, model: RSNN, x: torch.Tensor, y: torch.Tensor, loss_steps: int | None):
        self.model, self.x = model, x
        batch, steps, _ = x.shape
        self.w = loss_weights(steps, loss_steps, batch, x.dtype)
        self.target = F.one_hot(y, model.n_outputs).to(x.dtype)
        self.states = [layer.initial_state(batch) for layer in model.layers]
        self.spikes = [model.neuron.spike(s) for s in self.states]  # z_{t-1} of each layer
        self.o = x.new_zeros(batch, model.n_outputs)
        self.e_out = x.new_zeros(batch, model.n_outputs, model.layers[-1].n)  # d o / d W_out, carried
        self.e_bout = x.new_zeros(batch, model.n_outputs)
        self.grads = {name: torch.zeros_like(p) for name, p in model.named_parameters()}
        self.loss = x.new_zeros(())

    def run(self, t0: int, t1: int) -> tuple[list[_Local], torch.Tensor]:
        """Advance through steps t0..t1-1. Returns each layer's local quantities stacked over the steps
        (leading dim t1 - t0) and dE_t/do_t (t1 - t0, B, C); adds the readout's gradient."""
        nrn, ro = self.model.neuron, self.model.readout
        n_layers = len(self.model.layers)
        keep = {f: [[] for _ in range(n_layers)] for f in ("s_prev", "current", "inp", "z_prev", "s")}
        outputs = []
        # S-stage: only the forward dynamics run step by step; everything derived from them is batched below.
        for t in range(t0, t1):
            inp = self.x[:, t]
            for i, layer in enumerate(self.model.layers):
                s_prev, z_prev = self.states[i], self.spikes[i]
                current = layer.current(inp, z_prev)
                s = nrn.step(s_prev, current, layer.theta, z_prev)
                for f, v in zip(keep, (s_prev, current, inp, z_prev, s)):
                    keep[f][i].append(v)
                self.states[i] = s
                self.spikes[i] = inp = nrn.spike(s)
            self.o = ro.step(self.o, inp)
            outputs.append(self.o)
        local = []
        for i, layer in enumerate(self.model.layers):
            s_prev, current, inp, z_prev, s = (torch.stack(keep[f][i]) for f in keep)
            A, c, D = nrn.local(s_prev, current, layer.theta)
            local.append(_Local(A, c, D, nrn.g(s), inp, z_prev))
        o = torch.stack(outputs)
        logp = torch.log_softmax(o, -1)
        w = self.w[t0:t1, None, None]
        self.loss += -(w * logp * self.target).sum()
        err = w * (logp.exp() - self.target)
        self._readout_grads(err, torch.stack(keep["z_prev"][-1][1:] + [self.spikes[-1]]))
        return local, err

    def _readout_grads(self, err, z):
        """Exact readout gradient for a chunk: the readout is a leaky integrator, so HYPR's regrouping with
        A = alpha_o (a scalar per output) applies: rho_t = err_t + alpha rho_{t+1}."""
        a = self.model.readout.alpha_out
        rho = torch.empty_like(err)
        rho[-1] = err[-1]
        for k in range(len(err) - 2, -1, -1):
            rho[k] = err[k] + a * rho[k + 1]
        g = self.grads
        g["readout.w_out"] += (torch.einsum("tbc,tbn->cn", (1 - a) * rho, z)
                               + torch.einsum("bc,bcn->cn", a * rho[0], self.e_out))
        g["readout.b_out"] += ((1 - a) * rho).sum((0, 1)) + (a * rho[0] * self.e_bout).sum(0)
        decay = a ** torch.arange(len(err) - 1, -1, -1, dtype=a.dtype)[:, None]  # alpha^(lambda - t), (T, C)
        self.e_out = a[:, None] ** len(err) * self.e_out + torch.einsum("tc,tbn->bcn", decay * (1 - a), z)
        self.e_bout = a ** len(err) * self.e_bout + (decay * (1 - a)).sum(0)

    def signals(self, err: torch.Tensor, local: list) -> list[torch.Tensor]:
        """State-level learning signals l_t per layer (spatial only), from a stack of steps (T, B, ...)."""
        ro = self.model.readout
        big_l = (err * (1 - ro.alpha_out)) @ ro.w_out  # dE_t/dz_t of the top layer
        out = [None] * len(local)
        for i in reversed(range(len(local))):
            out[i] = big_l.unsqueeze(-1) * local[i].g
            if i:  # pass down through layer i's input weights: W^T (l . c)
                big_l = (out[i] * local[i].c).sum(-1) @ self.model.layers[i].w_in
        return out


def _eligibilities(model: RSNN, batch: int, dtype) -> list[dict[str, torch.Tensor]]:
    elig = []
    for layer in model.layers:
        n, d, p = layer.n, model.neuron.d, len(model.neuron.param_names)
        e = {"w_in": torch.zeros(batch, n, layer.n_in, d, dtype=dtype),
             "bias": torch.zeros(batch, n, d, dtype=dtype),
             "theta": torch.zeros(batch, n, p, d, dtype=dtype)}
        if layer.w_rec is not None:
            e["w_rec"] = torch.zeros(batch, n, n, d, dtype=dtype)
        elig.append(e)
    return elig


def _add_layer_grads(grads, model, i, g_w_in, g_w_rec, g_bias, g_theta):
    grads[f"layers.{i}.w_in"] += g_w_in
    grads[f"layers.{i}.bias"] += g_bias
    if g_w_rec is not None:
        grads[f"layers.{i}.w_rec"] += g_w_rec
    for k, name in enumerate(model.neuron.param_names):
        grads[f"layers.{i}.{name}"] += g_theta[k]


@torch.no_grad()
def _forward_rule(model, x, y, loss_steps):
    run = _Online(model, x, y, loss_steps)
    elig = _eligibilities(model, x.shape[0], x.dtype)
    for t in range(x.shape[1]):
        local, err = run.run(t, t + 1)
        signals = [l[0] for l in run.signals(err, local)]
        local = [_Local(*(getattr(loc, f)[0] for f in _Local.__dataclass_fields__)) for loc in local]
        for i, (loc, l, e) in enumerate(zip(local, signals, elig)):
            def carry(e_prev):  # e_t = A_t e_{t-1}, per neuron, for every synapse index
                return torch.einsum("bnij,bn...j->bn...i", loc.A, e_prev)
            e["w_in"] = carry(e["w_in"]) + loc.c[:, :, None, :] * loc.inp[:, None, :, None]
            e["bias"] = carry(e["bias"]) + loc.c
            e["theta"] = carry(e["theta"]) + loc.D
            g_rec = None
            if "w_rec" in e:
                e["w_rec"] = carry(e["w_rec"]) + loc.c[:, :, None, :] * loc.z_prev[:, None, :, None]
                g_rec = torch.einsum("bnd,bnmd->nm", l, e["w_rec"])
            _add_layer_grads(run.grads, model, i, torch.einsum("bnd,bnmd->nm", l, e["w_in"]), g_rec,
                             torch.einsum("bnd,bnd->n", l, e["bias"]), torch.einsum("bnd,bnpd->pn", l, e["theta"]))
    return run.loss, run.grads


@torch.no_grad()
def _hypr(model, x, y, loss_steps, chunk):
    run = _Online(model, x, y, loss_steps)
    elig = _eligibilities(model, x.shape[0], x.dtype)
    steps = x.shape[1]
    for t0 in range(0, steps, chunk):
        # S-stage and learning signals for the whole chunk.
        stacked, err = run.run(t0, min(t0 + chunk, steps))
        signals = run.signals(err, stacked)
        for i, (loc, l, e) in enumerate(zip(stacked, signals, elig)):
            # P-stage: q_t = l_t + A_{t+1}^T q_{t+1} backward through the chunk, and q_0 = A_1^T q_1.
            A = loc.A.permute(0, 3, 4, 1, 2).contiguous()  # (T, d, d, B, N): neurons last, see _matvec
            lt = l.permute(0, 3, 1, 2)
            q = torch.empty_like(lt)
            q[-1] = lt[-1]
            for k in range(len(l) - 2, -1, -1):
                q[k] = lt[k] + _matvec_t(A[k + 1], q[k + 1])
            q0 = _matvec_t(A[0], q[0]).permute(1, 2, 0)
            q = q.permute(0, 2, 3, 1)
            # Chunk gradient: in-chunk sums as matrix products, plus the carried eligibility's share.
            qc = (q * loc.c).sum(-1)
            g_rec = None
            if "w_rec" in e:
                g_rec = (torch.einsum("tbn,tbm->nm", qc, loc.z_prev) + torch.einsum("bnd,bnmd->nm", q0, e["w_rec"]))
            _add_layer_grads(
                run.grads, model, i,
                torch.einsum("tbn,tbm->nm", qc, loc.inp) + torch.einsum("bnd,bnmd->nm", q0, e["w_in"]),
                g_rec,
                qc.sum((0, 1)) + torch.einsum("bnd,bnd->n", q0, e["bias"]),
                torch.einsum("tbnd,tbnpd->pn", q, loc.D) + torch.einsum("bnd,bnpd->pn", q0, e["theta"]))
            # Carry the eligibilities to the chunk end: e <- Phi_0 e + sum_t (Phi_t c_t) x_t^T.
            c, D = loc.c.permute(0, 3, 1, 2), loc.D.permute(0, 4, 3, 1, 2)  # (T, d, B, N), (T, d, P, B, N)
            phi = torch.eye(model.neuron.d, dtype=x.dtype)[:, :, None, None].expand_as(A[0])
            phi_c, phi_d = torch.empty_like(c), torch.empty_like(D)
            for k in range(len(l) - 1, -1, -1):
                phi_c[k] = _matvec(phi, c[k])
                phi_d[k] = _matmul(phi, D[k])
                phi = _matmul(phi, A[k])
            phi = phi.permute(2, 3, 0, 1)
            phi_c, phi_d = phi_c.permute(0, 2, 3, 1), phi_d.permute(0, 3, 4, 2, 1)

            def carry(e_prev):
                return torch.einsum("bnij,bn...j->bn...i", phi, e_prev)
            e["w_in"] = carry(e["w_in"]) + torch.einsum("tbni,tbm->bnmi", phi_c, loc.inp)
            e["bias"] = carry(e["bias"]) + phi_c.sum(0)
            e["theta"] = carry(e["theta"]) + phi_d.sum(0)
            if "w_rec" in e:
                e["w_rec"] = carry(e["w_rec"]) + torch.einsum("tbni,tbm->bnmi", phi_c, loc.z_prev)
    return run.loss, run.grads


def _bptt(model, x, y, loss_steps):
    with torch.enable_grad():
        loss = sequence_loss(model(x), y, loss_steps)
        names, params = zip(*model.named_parameters())
        grads = torch.autograd.grad(loss, params, allow_unused=True)
    return loss.detach(), {n: torch.zeros_like(p) if g is None else g for n, p, g in zip(names, params, grads)}


def gradients(model: RSNN, x: torch.Tensor, y: torch.Tensor, method: str = "hypr", chunk: int | None = None,
              loss_steps: int | None = None, return_loss: bool = False):
    """Gradient of the mean cross-entropy w.r.t. every parameter, as a dict by parameter name.

    x: (B, T, n_inputs) inputs; y: (B,) class labels; chunk: HYPR's chunk length lambda (default: T);
    loss_steps: loss on the last K steps only (default: all). With return_loss, returns (loss, grads).
    """
    if method not in METHODS:
        raise ValueError(f"unknown gradient method {method!r}; expected one of {', '.join(METHODS)}")
    if x.ndim != 3 or x.shape[2] != model.n_inputs:
        raise ValueError(f"inputs must have shape (batch, steps, {model.n_inputs}), got {tuple(x.shape)}")
    if y.shape != (x.shape[0],):
        raise ValueError(f"targets must have shape ({x.shape[0]},), got {tuple(y.shape)}")
    x = x.to(model.readout.w_out.dtype)
    if method == "bptt":
        loss, grads = _bptt(model, x, y, loss_steps)
    elif method == "forward":
        loss, grads = _forward_rule(model, x, y, loss_steps)
    else:
        chunk = x.shape[1] if chunk is None else int(chunk)
        if chunk < 1:
            raise ValueError(f"chunk length must be >= 1, got {chunk}")
        loss, grads = _hypr(model, x, y, loss_steps, chunk)
    return (loss, grads) if return_loss else grads
