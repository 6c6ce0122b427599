"""Driving the dev-cluster from the keyboard: a key, then a node number; and the terminal
mode that needs (keys one at a time, no echo, the cursor hidden under the live view)."""

from __future__ import annotations

import os
import sys

# key -> (DevCluster.do action, what the prompt calls it)
KEYS = {"k": ("kill", "kill -9"), "p": ("toggle", "pause/resume"), "r": ("restart", "restart"), "s": ("stop", "stop")}


class KeyboardMixin:
    """DevCluster's keys and terminal mode (uses its nodes, out, tty_in, tty_out, quit, do(),
    _write(), _dirty, _message, _pending, _digits and _saved_tty)."""

    def on_key(self, ch: str):
        self._dirty = True
        if self._pending is not None:
            if ch.isdigit():
                self._digits += ch
                if int(self._digits) * 10 > len(self.nodes):
                    self._run_pending()
                return
            if ch == " " and not self._digits:
                return  # "k 2", as the README writes it: the space between key and number
            if ch == "e" and not self._digits:  # "p e": the local engine
                self._digits = "engine"
                self._run_pending()
                return
            if ch in ("\r", "\n", " "):
                if self._digits:
                    self._run_pending()
                else:
                    self._pending = None
                return
            if ch in ("\x7f", "\b"):
                self._digits = self._digits[:-1]
                return
            self._pending, self._digits = None, ""
            if ch == "\x1b":
                self._message = "cancelled"
                return
        if ch in KEYS:
            self._pending, self._digits = ch, ""
            if len(self.nodes) == 1:
                self._digits = "1"
                self._run_pending()
        elif ch == "q":
            self.quit = "q pressed"
        elif ch in ("\x1b", "\r", "\n", " "):
            pass
        else:
            self._message = f"key {ch!r}: press k, p, r or s then a node number, or q to quit"

    def _run_pending(self):
        action = KEYS[self._pending][0]
        name = self._digits
        self._pending, self._digits = None, ""
        ok, text = self.do(action, name)
        self._message = text

    def _enter_tty(self):
        try:
            fd = sys.stdin.fileno()
            self.tty_in = os.isatty(fd)
        except (AttributeError, ValueError, OSError):
            self.tty_in = False
        if self.tty_in:
            # keys only in the foreground: a background job touching the tty would be stopped (SIGTTOU)
            try:
                self.tty_in = os.tcgetpgrp(fd) == os.getpgrp()
            except OSError:  # a terminal but not our controlling one: no job control to fear
                pass
        if self.tty_in:
            import termios
            import tty

            self._saved_tty = termios.tcgetattr(fd)
            tty.setcbreak(fd)  # keys one at a time, no echo; Ctrl-C still sends SIGINT
        if self.tty_out:
            self.out.write("\x1b[?25l\x1b[H\x1b[2J")  # hide the cursor, clear
            self.out.flush()

    def _leave_tty(self):
        if self._saved_tty is not None:
            import termios

            try:
                termios.tcsetattr(sys.stdin.fileno(), termios.TCSADRAIN, self._saved_tty)
            except (OSError, termios.error):
                pass
            self._saved_tty = None
        if self.tty_out:
            self._write("\x1b[0m\x1b[?25h")
