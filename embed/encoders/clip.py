"""open_clip text or image tower, L2-normalised (the space CLIP retrieval scores in)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from curate.errors import MissingDependencyError
from embed.encoders.base import Encoded, Progress

__all__ = ["ClipEncoder"]


def _open_clip():
    try:
        import open_clip
    except ImportError as err:
        raise MissingDependencyError("the clip encoder needs open_clip (and torchvision): "
                                     "pip install open-clip-torch torchvision") from err
    return open_clip


class ClipEncoder:
    """Texts through `encode_text`, or image files through the preprocessing transform and `encode_image`."""

    normalized = True

    def __init__(self, model, tokenizer, preprocess, *, images: bool, batch_size: int = 64, device=None,
                 dtype=None):
        import torch

        self.device = torch.device(device or "cpu")
        self.dtype = dtype or torch.float32
        self.model = model.to(self.device, dtype=self.dtype).eval()
        self.tokenizer, self.preprocess, self.images, self.batch_size = tokenizer, preprocess, images, batch_size
        self.dim = int(self._output_dim())

    @classmethod
    def build(cls, name: str, pretrained: str | Path | None, *, images: bool, **options) -> ClipEncoder:
        open_clip = _open_clip()
        model, _, preprocess = open_clip.create_model_and_transforms(
            name, pretrained=str(pretrained) if pretrained else None)
        return cls(model, open_clip.get_tokenizer(name), preprocess, images=images, **options)

    def _output_dim(self) -> int:
        visual = getattr(self.model, "visual", None)
        if getattr(visual, "output_dim", None):
            return visual.output_dim
        import torch

        with torch.inference_mode():
            return self.model.encode_text(self.tokenizer(["a"]).to(self.device)).shape[-1]

    def _load_images(self, paths: list[str]):
        """(tensors of the images that decode, {position: why} for those that do not)."""
        from PIL import Image, UnidentifiedImageError

        tensors, failures = {}, {}
        for k, path in enumerate(paths):
            try:
                with Image.open(path) as image:
                    tensors[k] = self.preprocess(image.convert("RGB"))
            except (OSError, UnidentifiedImageError, ValueError) as err:
                failures[k] = f"image '{path}' does not decode ({type(err).__name__}: {err})"
        return tensors, failures

    def encode(self, items: list[str], progress: Progress = None) -> Encoded:
        import torch

        failures: dict[int, str] = {}
        if self.images:
            loaded, failures = self._load_images(items)
            positions = sorted(loaded)
        else:
            positions = list(range(len(items)))
        out = np.zeros((len(items), self.dim), dtype=np.float32)
        with torch.inference_mode():
            for start in range(0, len(positions), self.batch_size):
                batch = positions[start:start + self.batch_size]
                if self.images:
                    pixels = torch.stack([loaded[k] for k in batch]).to(self.device, dtype=self.dtype)
                    vectors = self.model.encode_image(pixels, normalize=True)
                else:
                    tokens = self.tokenizer([items[k] for k in batch]).to(self.device)
                    vectors = self.model.encode_text(tokens, normalize=True)
                out[batch] = vectors.float().cpu().numpy()
                if progress:
                    progress(len(batch))
        if failures and progress:
            progress(len(failures))
        return Encoded(out, failures=failures)
