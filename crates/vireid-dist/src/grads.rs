//! What data-parallel training exchanges: gradients averaged over ranks before each update,
//! and parameters and buffers copied from one rank to all. Tensors are packed into one flat
//! buffer per element type, so a step costs one collective per type rather than one per
//! tensor (a ResNet-50 has over 300); a tensor that is already the only contiguous one of its
//! type (the optimiser's flat gradients) is exchanged in place, without copies.

use crate::error::Result;
use crate::group::{ProcessGroup, ReduceOp};
use tch::{Kind, Tensor};

/// Replaces every tensor of `grads` by its mean over the ranks.
pub fn average(group: &ProcessGroup, grads: &[Tensor]) -> Result<()> {
    if group.world_size() == 1 {
        return Ok(());
    }
    let ranks = group.world_size() as f64;
    packed(grads, |flat| {
        group.all_reduce(flat, ReduceOp::Sum)?;
        // Division by the world size, not multiplication by its inverse: for two ranks the
        // mean is then exact, as a single process averaging two gradients would get it.
        let _ = flat.g_div_scalar_(ranks);
        Ok(())
    })
}

/// Gives every rank `root`'s values of `tensors` (parameters, buffers), in place.
pub fn share(group: &ProcessGroup, tensors: &[Tensor], root: usize) -> Result<()> {
    if group.world_size() == 1 {
        return Ok(());
    }
    packed(tensors, |flat| group.broadcast(flat, root))
}

/// Whether `tensors` hold the same values on every rank: each element's maximum over the
/// ranks equals its minimum.
pub fn identical(group: &ProcessGroup, tensors: &[Tensor]) -> Result<bool> {
    if group.world_size() == 1 {
        return Ok(true);
    }
    let mut same = true;
    packed(tensors, |flat| {
        let low = flat.copy();
        group.all_reduce(flat, ReduceOp::Max)?;
        group.all_reduce(&low, ReduceOp::Min)?;
        same &= flat.equal(&low);
        Ok(())
    })?;
    Ok(same)
}

/// Runs `exchange` on one flat copy of the tensors of each element type, then writes the
/// exchanged values back into the tensors.
fn packed(tensors: &[Tensor], mut exchange: impl FnMut(&mut Tensor) -> Result<()>) -> Result<()> {
    let mut kinds: Vec<Kind> = Vec::new();
    for t in tensors {
        if !kinds.contains(&t.kind()) {
            kinds.push(t.kind());
        }
    }
    tch::no_grad(|| {
        for kind in kinds {
            let members: Vec<&Tensor> = tensors.iter().filter(|t| t.kind() == kind).collect();
            if let [one] = members[..] {
                if one.is_contiguous() {
                    // Already flat (the optimiser's gradient buffer): exchanged where it is.
                    exchange(&mut one.view([-1]))?;
                    continue;
                }
            }
            let pieces: Vec<Tensor> = members.iter().map(|t| t.reshape([-1])).collect();
            let mut flat = Tensor::f_cat(&pieces, 0)?;
            exchange(&mut flat)?;
            let mut offset = 0;
            for t in members {
                let n = t.numel() as i64;
                let mut target = t.shallow_clone();
                target.f_copy_(&flat.narrow(0, offset, n).view_as(t))?;
                offset += n;
            }
        }
        Ok(())
    })
}
