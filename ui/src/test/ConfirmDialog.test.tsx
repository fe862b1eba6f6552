import { render, screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { useState } from "react";
import { expect, test, vi } from "vitest";
import { ConfirmDialog, useConfirm } from "../components/ConfirmDialog";

function Harness({ onConfirm }: { onConfirm: () => void }) {
  const [open, setOpen] = useState(false);
  return (
    <>
      <button type="button" onClick={() => setOpen(true)}>
        Revoke key
      </button>
      <ConfirmDialog
        open={open}
        title="Revoke this key?"
        message="Programs using it will stop working."
        confirmLabel="Revoke"
        onConfirm={() => {
          onConfirm();
          setOpen(false);
        }}
        onCancel={() => setOpen(false)}
      />
    </>
  );
}

test("the dialog is modal, starts on Cancel, keeps Tab inside and Escape returns focus", async () => {
  const user = userEvent.setup();
  const onConfirm = vi.fn();
  render(<Harness onConfirm={onConfirm} />);
  const opener = screen.getByRole("button", { name: "Revoke key" });
  await user.click(opener);
  const dialog = screen.getByRole("dialog", { name: "Revoke this key?" });
  expect(dialog).toHaveAttribute("aria-modal", "true");
  expect(dialog).toHaveAccessibleDescription("Programs using it will stop working.");
  expect(screen.getByRole("button", { name: "Cancel" })).toHaveFocus();
  await user.tab();
  expect(screen.getByRole("button", { name: "Revoke" })).toHaveFocus();
  await user.tab();
  expect(screen.getByRole("button", { name: "Cancel" })).toHaveFocus(); // wrapped, never left the dialog
  await user.tab({ shift: true });
  expect(screen.getByRole("button", { name: "Revoke" })).toHaveFocus();
  await user.keyboard("{Escape}");
  expect(screen.queryByRole("dialog")).not.toBeInTheDocument();
  expect(onConfirm).not.toHaveBeenCalled();
  expect(opener).toHaveFocus();
});

test("confirming runs the action once and closes", async () => {
  const user = userEvent.setup();
  const onConfirm = vi.fn();
  render(<Harness onConfirm={onConfirm} />);
  await user.click(screen.getByRole("button", { name: "Revoke key" }));
  await user.click(screen.getByRole("button", { name: "Revoke" }));
  expect(onConfirm).toHaveBeenCalledTimes(1);
  expect(screen.queryByRole("dialog")).not.toBeInTheDocument();
  expect(screen.getByRole("button", { name: "Revoke key" })).toHaveFocus();
});

test("while busy neither button nor Escape acts, and an error shows inside", async () => {
  const user = userEvent.setup();
  const onCancel = vi.fn();
  render(
    <ConfirmDialog open busy error="The key could not be revoked." title="Revoke?" message="m" confirmLabel="Revoke"
      onConfirm={vi.fn()} onCancel={onCancel} />,
  );
  expect(screen.getByRole("button", { name: "Cancel" })).toBeDisabled();
  expect(screen.getByRole("button", { name: "Working…" })).toBeDisabled();
  await user.keyboard("{Escape}");
  expect(onCancel).not.toHaveBeenCalled();
  expect(screen.getByRole("alert")).toHaveTextContent("The key could not be revoked.");
});

function Things({ act, after }: { act: (name: string) => Promise<void>; after: (name: string) => void }) {
  const removal = useConfirm(act, { fallback: "It could not be removed.", after });
  return (
    <>
      {["a", "b"].map((name) => (
        <button key={name} type="button" onClick={() => removal.ask(name)}>
          Remove {name}
        </button>
      ))}
      <ConfirmDialog {...removal.dialog} title={`Remove ${removal.target ?? ""}?`} message="Gone for good." confirmLabel="Remove" />
    </>
  );
}

test("useConfirm opens the dialog for one thing, shows the failure inside it, and closes once the action succeeded", async () => {
  const user = userEvent.setup();
  const act = vi.fn().mockRejectedValueOnce(new Error("no")).mockResolvedValue(undefined);
  const after = vi.fn();
  render(<Things act={act} after={after} />);
  await user.click(screen.getByRole("button", { name: "Remove b" }));
  const dialog = screen.getByRole("dialog", { name: "Remove b?" });
  await user.click(screen.getByRole("button", { name: "Remove" }));
  expect(await screen.findByRole("alert")).toHaveTextContent("It could not be removed.");
  expect(after).not.toHaveBeenCalled();
  await user.click(screen.getByRole("button", { name: "Cancel" }));
  expect(dialog).not.toBeInTheDocument();

  await user.click(screen.getByRole("button", { name: "Remove a" }));
  expect(screen.queryByRole("alert")).not.toBeInTheDocument(); // asking again starts without the old failure
  await user.click(screen.getByRole("button", { name: "Remove" }));
  expect(screen.queryByRole("dialog")).not.toBeInTheDocument();
  expect(act).toHaveBeenLastCalledWith("a");
  expect(after).toHaveBeenCalledWith("a");
});
