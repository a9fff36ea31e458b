// SPDX-License-Identifier: MIT
#pragma once

#include "checkpointreader.h"

#include <QMetaType>

#include <memory>

namespace ckpt {

/// The immutable result of reading one checkpoint, shared between the UI and worker threads.
using CheckpointPtr = std::shared_ptr<const format::CheckpointData>;

} // namespace ckpt

Q_DECLARE_METATYPE(ckpt::CheckpointPtr)
