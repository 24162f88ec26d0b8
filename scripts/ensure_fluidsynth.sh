#!/usr/bin/env bash
# FluidSynth and a General MIDI soundfont render the embedded dataset.
set -eu
if command -v fluidsynth >/dev/null 2>&1 && [ -f /usr/share/sounds/sf2/FluidR3_GM.sf2 ]; then
  exit 0
fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing fluidsynth and fluid-soundfont-gm with apt-get" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq fluidsynth fluid-soundfont-gm >/dev/null
  exit 0
fi
if command -v fluidsynth >/dev/null 2>&1; then
  echo "note: FluidR3_GM.sf2 not found; the renderer falls back to pretty_midi's TimGM6mb if installed." >&2
  echo "      For the better soundfont run: sudo apt-get install -y fluid-soundfont-gm" >&2
  exit 0
fi
echo "FluidSynth is missing and this is not root: run  sudo apt-get install -y fluidsynth fluid-soundfont-gm" >&2
exit 1
