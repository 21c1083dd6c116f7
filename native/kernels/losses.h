// Losses over rows of scores: fused softmax cross-entropy (label smoothing,
// per-row weights), log-softmax for inference, and weighted MSE.
// Legend: N rows (all leading dims flattened), V classes, F features per row.
// Sums are accumulated in double; results go to result[2] = {weighted loss sum, weight total}.
#pragma once

namespace rnnkit {

// Row loss, PyTorch's CrossEntropyLoss(label_smoothing=eps): (1-eps) * -log p[target] + eps * mean_v(-log p[v]).
// weights null means all 1; a row of weight 0 adds nothing, its target is not read (may be -1) and its
// dlogits are exact zeros. Other targets must lie in [0, V) (the binding checks).
// dlogits (may be null) = scale * d(sum_n w_n loss_n)/dlogits, e.g. scale = 1/total for a mean.
template <typename Real>
void softmax_cross_entropy(Real* dlogits /*[N,V]*/, double* result /*[2]*/, const Real* logits /*[N,V]*/,
                           const int* targets /*[N]*/, const Real* weights /*[N]*/, double label_smoothing,
                           double scale, int N, int V);

// out[n, v] = logits[n, v] - log(sum_u exp(logits[n, u])), stable by max subtraction.
template <typename Real>
void log_softmax(Real* out /*[N,V]*/, const Real* logits /*[N,V]*/, int N, int V);

// Loss sum_n w_n sum_f (pred - target)^2; result[1] = F * sum_n w_n (the weighted element count).
// Rows of weight 0: target not read, dpred exact zeros. dpred (may be null) = scale * d(loss)/dpred.
template <typename Real>
void mse_loss(Real* dpred /*[N,F]*/, double* result /*[2]*/, const Real* pred /*[N,F]*/, const Real* target /*[N,F]*/,
              const Real* weights /*[N]*/, double scale, int N, int F);

}  // namespace rnnkit
