// Cell kinds and their gate layout, written once. Gate order is PyTorch's:
// GRU [r, z, n], LSTM [i, f, g, o]. Legend used across kernels:
// T steps, B batch, I input size, H hidden size, G gates, GH = G*H.
#pragma once
#include <cmath>

namespace rnnkit {

enum class Cell { RnnTanh = 0, RnnRelu = 1, Gru = 2, Lstm = 3 };

constexpr int gate_count(Cell cell) {
  return cell == Cell::Gru ? 3 : cell == Cell::Lstm ? 4 : 1;
}

// Floats per (step, batch row) a cell keeps for backward, beyond h (and c).
constexpr int cache_width(Cell cell, int H) {
  return cell == Cell::Gru ? 4 * H : cell == Cell::Lstm ? 4 * H : 0;
}

// GRU gate offsets inside a [3H] row.
struct GruGate { static constexpr int r = 0, z = 1, n = 2; };
// LSTM gate offsets inside a [4H] row.
struct LstmGate { static constexpr int i = 0, f = 1, g = 2, o = 3; };

template <typename Real>
inline Real sigmoid(Real v) { return Real(1) / (Real(1) + std::exp(-v)); }

}  // namespace rnnkit
