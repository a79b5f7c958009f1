"""Writing video files through PyAV: the encoder settings and the audio copy.

The file is written under a hidden temporary name in the destination folder
and renamed over the destination only once it is complete, so a failed or
interrupted run never leaves a half-written file where a good one was.

Audio and timecode follow the frames from their source file: the packets covering the
clip's time range are copied without re-encoding (cut at packet boundaries,
timestamps shifted so sound and picture stay in sync). When the output
container cannot hold the source's audio codec, that audio is re-encoded to AAC.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Callable

import av
import numpy as np
from av.video.reformatter import Interpolation

from inpainterz.engine import BadInput
from inpainterz.engine.atomic import sweep, temp_path_for
from inpainterz.engine.errors import is_disk_full

from . import timecode
from .video import frame_rotation, output_colorspace


@dataclass(frozen=True)
class CodecChoice:
    encoder: str
    pix_fmt: str
    options: dict


CODECS = {
    # x264's macroblock tree reads memory it never initialised when B-frames are on: the same
    # frames gave different pictures from run to run (up to 34 levels). Turning it off costs a
    # little compression and makes the output depend on the frames alone.
    "h264": CodecChoice("libx264", "yuv420p", {"x264-params": "mbtree=0"}),
    "h265": CodecChoice("libx265", "yuv420p", {"x265-params": "log-level=error"}),
    # bgr0 keeps RGB frames bit-exact: ffv1 is lossless, so the file reads back unchanged.
    "ffv1": CodecChoice("ffv1", "bgr0", {"level": "3", "slicecrc": "1"}),
    # ProRes 422 HQ; a 4:4:4 pix_fmt selects ProRes 4444.
    "prores": CodecChoice("prores_ks", "yuv422p10le", {"vendor": "apl0"}),
}

# swscale's fast paths to 10-bit YUV (ProRes) read scratch memory they never
# initialised: the same RGB frame converted to different pixels from run to run.
# Accurate rounding with bit-exact arithmetic takes the path that does not.
# Nothing is scaled here, so the filter named with them changes nothing.
EXACT_CONVERSION = Interpolation.BILINEAR | Interpolation.ACCURATE_RND | Interpolation.BITEXACT

PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow")


def prepare_folder(folder: Path, what: str) -> None:
    """Create the output folder, or raise BadInput naming it."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise BadInput(f"cannot write {what}: {_blocking_file(folder)} is a file, not a folder; "
                       f"choose another output path") from None
    except OSError as exc:
        raise BadInput(f"cannot create the folder {folder} for {what}: {exc.strerror}") from None
    if not os.access(folder, os.W_OK):
        raise BadInput(f"cannot write {what}: the folder {folder} is not writable")


def _blocking_file(folder: Path) -> Path:
    probe = folder
    while probe != probe.parent and not probe.exists():
        probe = probe.parent
    return probe


def needs_even(pix_fmt: str) -> tuple[bool, bool]:
    """Whether (width, height) must be even for this pixel format's chroma subsampling."""
    name = av.VideoFormat(pix_fmt).name
    if "420" in name or name.startswith(("nv12", "nv21", "p010", "p016")):
        return True, True
    if "422" in name or "411" in name or name.startswith(("nv16", "nv20")):
        return True, False
    return False, False


def encoder_settings(codec: str, pix_fmt: str, crf: int, preset: str, width: int, height: int) -> tuple[CodecChoice, str, dict]:
    """Check the codec and pixel format against this FFmpeg build and the frame size."""
    choice = CODECS[codec]
    try:
        enc = av.codec.Codec(choice.encoder, "w")
    except Exception:
        others = ", ".join(k for k, c in CODECS.items() if _has_encoder(c.encoder))
        raise BadInput(f"param 'codec': this FFmpeg build has no {choice.encoder} encoder, so {codec} cannot be "
                       f"written here; use one of {others}") from None
    pix_fmt = pix_fmt or choice.pix_fmt
    allowed = [f.name for f in enc.video_formats or ()]
    if allowed and pix_fmt not in allowed:
        raise BadInput(f"param 'pix_fmt': {codec} ({choice.encoder}) cannot take {pix_fmt}; "
                       f"use one of {', '.join(allowed)} (or leave it empty for {choice.pix_fmt})")
    even_w, even_h = needs_even(pix_fmt)
    if (even_w and width % 2) or (even_h and height % 2):
        raise BadInput(f"param 'pix_fmt': {pix_fmt} halves the colour resolution, so it needs an even width and "
                       f"height, but the frames are {width}x{height}. Nothing was padded or cropped: set pix_fmt "
                       f"to yuv444p (keeps every pixel), use codec ffv1 or prores, or crop upstream")
    options = dict(choice.options)
    if codec in ("h264", "h265"):
        options.update(crf=str(crf), preset=preset)
    if codec == "prores":
        options["profile"] = "4" if "444" in pix_fmt else "3"
    return choice, pix_fmt, options


def _has_encoder(name: str) -> bool:
    try:
        av.codec.Codec(name, "w")
        return True
    except Exception:
        return False


# ---------------------------------------------------------------- audio

def container_takes(format_name: str, stream) -> bool:
    """Whether a container accepts a copy of this stream: some refuse only when the header is written."""
    import io

    probe = av.open(io.BytesIO(), "w", format=format_name)
    try:
        probe.add_stream_from_template(stream)
        probe.start_encoding()
        return True
    except (ValueError, av.error.FFmpegError):
        return False
    finally:
        try:
            probe.close()
        except Exception:
            pass


class AudioFollow:
    """Copies (or, where the container refuses the codec, re-encodes) a source's audio for a time range."""

    def __init__(self, out, source: Path, start: float, stop: float, from_beginning: bool,
                 note: Callable[[str], None]):
        self.out, self.start, self.stop, self.from_beginning = out, start, stop, from_beginning
        self.container = av.open(str(source), metadata_errors="ignore")
        audio = [s for s in self.container.streams.audio]
        self.stream_in = audio[0] if audio else None
        self.stream_out = None
        self.encoder_mode = False
        self.done = self.stream_in is None
        if self.done:
            self.container.close()
            return
        tb = self.stream_in.time_base
        try:
            if not container_takes(out.format.name, self.stream_in):
                raise ValueError("the container refuses this audio codec")
            self.stream_out = out.add_stream_from_template(self.stream_in)
        except (ValueError, av.error.FFmpegError):
            rate = self.stream_in.codec_context.sample_rate or 48000
            self.stream_out = out.add_stream("aac", rate=rate, layout=self.stream_in.codec_context.layout.name)
            self.stream_out.bit_rate = 192000
            self.encoder_mode = True
            self.resampler = av.AudioResampler(format="fltp", layout=self.stream_in.codec_context.layout.name,
                                               rate=rate, frame_size=1024)
            self.next_sample = 0
            note(f"the output container cannot hold {self.stream_in.codec_context.name} audio, "
                 f"so the audio was re-encoded to AAC")
        self.shift = int(round(start / tb)) if tb else 0
        self.tb = Fraction(tb) if tb else None
        if self.start > 0 and self.tb:
            try:
                self.container.seek(max(0, self.shift), stream=self.stream_in, backward=True, any_frame=True)
            except av.error.FFmpegError:
                pass
        self.packets = self.container.demux(self.stream_in)
        self.pending = None

    def feed_until(self, t: float) -> None:
        """Mux the audio packets that start before `t` seconds (source time)."""
        if self.done:
            return
        limit = min(t, self.stop)
        while True:
            pkt = self.pending or next(self.packets, None)
            self.pending = None
            if pkt is None:
                self._finish_stream()
                return
            if pkt.dts is None or pkt.pts is None or pkt.size == 0:
                continue
            begin = float(pkt.pts * self.tb)
            middle = begin + float((pkt.duration or 0) * self.tb) / 2
            # Packets are cut whole: a packet belongs to the range when its
            # middle does. From the very start of the source every packet is
            # kept, encoder priming included.
            if middle < self.start and not self.from_beginning:
                continue
            if middle >= self.stop:
                self._finish_stream()
                return
            if begin >= limit:
                self.pending = pkt
                return
            self._emit(pkt)

    def _emit(self, pkt) -> None:
        if not self.encoder_mode:
            pkt.pts -= self.shift
            pkt.dts -= self.shift
            pkt.stream = self.stream_out
            self.out.mux(pkt)
            return
        for frame in pkt.decode():
            frame.pts = None
            for res in self.resampler.resample(frame):
                res.pts = self.next_sample
                self.next_sample += res.samples
                for p in self.stream_out.encode(res):
                    self.out.mux(p)

    def _finish_stream(self) -> None:
        if self.done:
            return
        self.done = True
        if self.encoder_mode:
            for res in self.resampler.resample(None):
                res.pts = self.next_sample
                self.next_sample += res.samples
                for p in self.stream_out.encode(res):
                    self.out.mux(p)
            for p in self.stream_out.encode(None):
                self.out.mux(p)
        self.container.close()

    def finish(self) -> None:
        self.feed_until(self.stop)
        self._finish_stream()

    def close(self) -> None:
        if not self.done:
            self.done = True
            self.container.close()


# ---------------------------------------------------------------- writing

@dataclass(frozen=True)
class SourceWindow:
    """The part of the source file a clip covers: for its audio and its timecode."""

    path: Path
    start: float  # seconds, on the source's clock
    stop: float
    from_beginning: bool
    timecode: str | None  # the source timecode of the clip's first frame
    rotation: int  # degrees the source asks players to rotate by; frames are kept as coded


def source_window(frames) -> SourceWindow | None:
    src = frames.source
    if src is None or not src.path:
        return None
    path = Path(src.path)
    if not path.is_file():
        return None
    src_fps = Fraction(src.fps) if src.fps else frames.fps
    try:
        container = av.open(str(path), metadata_errors="ignore")
    except av.error.FFmpegError:
        return None
    try:
        video = container.streams.video[0] if container.streams.video else None
        origin = float(video.start_time * video.time_base) if video is not None and video.start_time is not None else 0.0
        tc = timecode.source_timecode(container)
        rotation = 0
        if video is not None:
            try:
                rotation = frame_rotation(next(container.decode(video), None))
            except av.error.FFmpegError:
                pass
    finally:
        container.close()
    start = origin + float(Fraction(src.first) / src_fps)
    tc = timecode.offset(tc, src.first, src_fps) if tc else None
    return SourceWindow(path, start, start + float(len(frames) / frames.fps), src.first == 0, tc, rotation)


def write_video(path: Path, frames, codec: str, crf: int, pix_fmt: str, preset: str, audio: bool,
                progress: Callable[[float], None], note: Callable[[str], None]) -> None:
    choice, pix_fmt, options = encoder_settings(codec, pix_fmt, crf, preset, frames.width, frames.height)
    if not path.suffix:
        raise BadInput(f"param 'path': {path} has no extension, so the container is unknown; "
                       f"end it in .mp4, .mov or .mkv")
    if path.is_dir():
        raise BadInput(f"param 'path': {path} is a folder; give a file name such as {path / 'clean.mp4'}")
    prepare_folder(path.parent, str(path))
    sweep(path.parent)  # temporary files of writers that were killed
    if len(frames) == 0:
        raise BadInput("input 'frames' has no frames; there is nothing to encode")
    tmp = temp_path_for(path)
    out = follow = None
    try:
        try:
            out = av.open(str(tmp), "w")
        except (ValueError, av.error.FFmpegError) as exc:
            raise BadInput(f"param 'path': FFmpeg cannot write a {path.suffix} file ({exc}); use .mp4, .mov or .mkv") from None
        fps = Fraction(frames.fps)
        try:
            stream = out.add_stream(choice.encoder, rate=fps, options=options)
        except ValueError:
            fits = {"ffv1": ".mkv", "prores": ".mov or .mkv"}.get(codec, ".mp4, .mov or .mkv")
            raise BadInput(f"param 'codec': a {path.suffix} file cannot hold {codec}; name the output {fits}") from None
        stream.width, stream.height, stream.pix_fmt = frames.width, frames.height, pix_fmt
        stream.time_base = 1 / fps
        stream.codec_context.time_base = 1 / fps
        yuv = not av.VideoFormat(pix_fmt).is_rgb
        colorspace = output_colorspace(frames.width, frames.height)
        if yuv:
            cc = stream.codec_context
            cc.colorspace, cc.color_primaries, cc.color_trc = colorspace, colorspace, colorspace
            cc.color_range = 1  # limited (tv) range, what players expect
        window = source_window(frames)
        if window is not None and window.timecode:
            stream.metadata["timecode"] = window.timecode
        if window is not None and window.rotation:
            stream.set_display_rotation(window.rotation)
        if audio and window is not None:
            follow = AudioFollow(out, window.path, window.start, window.stop, window.from_beginning, note)
            if follow.stream_in is None:
                note(f"the source {window.path.name} has no audio; the output has none either")
        elif audio and frames.source is not None and window is None:
            note(f"the source {frames.source.path} is gone, so the output has no audio")
        total = len(frames)
        start_t = window.start if window else 0.0
        for first, chunk in frames.chunks():
            for k, rgb in enumerate(chunk):
                i = first + k
                frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
                if yuv:
                    frame = frame.reformat(format=pix_fmt, dst_colorspace=colorspace, dst_color_range=1,
                                           interpolation=EXACT_CONVERSION)
                else:
                    frame = frame.reformat(format=pix_fmt, interpolation=EXACT_CONVERSION)
                frame.pts = i
                for pkt in stream.encode(frame):
                    out.mux(pkt)
                if follow is not None:
                    follow.feed_until(start_t + float(Fraction(i + 1) / fps))
                progress((i + 1) / total)
        for pkt in stream.encode(None):
            out.mux(pkt)
        if follow is not None:
            follow.finish()
        out.close()
        out = None
        os.replace(tmp, path)
    except OSError as exc:
        _close_quietly(follow, out)
        tmp.unlink(missing_ok=True)
        if is_disk_full(exc):
            raise BadInput(f"the disk is full while writing {path}; free space on it or write the output to "
                           f"another disk (nothing half-written was kept)") from None
        raise
    except BaseException:
        _close_quietly(follow, out)
        tmp.unlink(missing_ok=True)
        raise


def _close_quietly(follow, out) -> None:
    if follow is not None:
        follow.close()
    if out is not None:
        try:
            out.close()
        except Exception:
            pass
