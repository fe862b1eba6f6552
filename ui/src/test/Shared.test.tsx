import { act, render, renderHook, screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { useState } from "react";
import { afterEach, expect, test, vi } from "vitest";
import { ApiError } from "../api/client";
import { apiMessage, errorMessage } from "../api/failure";
import { useAction } from "../api/useAction";
import { useLoad } from "../api/useLoad";
import { Breadcrumb } from "../components/Breadcrumb";
import { ErrorAlert } from "../components/ErrorAlert";
import { Field } from "../components/Field";
import { RowForm } from "../components/RowForm";
import { BudgetField, RoleOptions, TaskSelect, TypeSelect } from "../components/Inputs";
import { Pager, ROW, Table } from "../components/Table";

afterEach(() => vi.useRealTimers());

test("a table is named by its caption, has its header row, and sits in a focusable region of the same name", async () => {
  render(
    <Table caption="Things, newest first" head={["Name", "Size"]}>
      <tr className={ROW}>
        <th scope="row">a</th>
        <td>1</td>
      </tr>
    </Table>,
  );
  const table = screen.getByRole("table", { name: "Things, newest first" });
  expect(screen.getAllByRole("columnheader").map((h) => h.textContent)).toEqual(["Name", "Size"]);
  expect(screen.getByRole("row", { name: "a 1" })).toBeInTheDocument();
  const region = screen.getByRole("region", { name: "Things, newest first" });
  expect(region).toContainElement(table);
  await userEvent.setup().tab();
  expect(region).toHaveFocus();
});

test("the pager is absent while all fits on a page, and steps by a page within the total", async () => {
  const { rerender } = render(<Pager offset={0} size={20} total={20} onChange={() => undefined} />);
  expect(screen.queryByRole("navigation")).not.toBeInTheDocument();

  function Paged() {
    const [offset, setOffset] = useState(0);
    return <Pager offset={offset} size={20} total={45} onChange={setOffset} />;
  }
  rerender(<Paged />);
  const user = userEvent.setup();
  const nav = screen.getByRole("navigation", { name: "Pages" });
  expect(nav).toHaveTextContent("1–20 of 45");
  expect(screen.getByRole("button", { name: "Previous" })).toBeDisabled();
  await user.click(screen.getByRole("button", { name: "Next" }));
  await user.click(screen.getByRole("button", { name: "Next" }));
  expect(nav).toHaveTextContent("41–45 of 45");
  expect(screen.getByRole("button", { name: "Next" })).toBeDisabled();
  await user.click(screen.getByRole("button", { name: "Previous" }));
  expect(nav).toHaveTextContent("21–40 of 45");
});

test("an error alert shows only when there is a message, with its extra classes", () => {
  const { rerender } = render(<ErrorAlert message={null} />);
  expect(screen.queryByRole("alert")).not.toBeInTheDocument();
  rerender(<ErrorAlert message="It broke." className="sm:col-span-4" />);
  expect(screen.getByRole("alert")).toHaveTextContent("It broke.");
  expect(screen.getByRole("alert")).toHaveClass("alert", "sm:col-span-4");
});

test("a breadcrumb links up and names where it is", () => {
  const { container, rerender } = render(<Breadcrumb href="#/models" label="Models" current="penguins.csv" />);
  expect(screen.getByRole("link", { name: "Models" })).toHaveAttribute("href", "#/models");
  expect(container).toHaveTextContent("Models / penguins.csv");
  rerender(<Breadcrumb href="#/datasets" label="Datasets" />);
  expect(container.textContent).toBe("Datasets /");
});

test("a row form is named by its title and shows its error; the selects offer their words", async () => {
  const submit = vi.fn((e: { preventDefault: () => void }) => e.preventDefault());
  render(
    <RowForm title="Add a thing" columns="sm:grid-cols-[2fr_2fr_1fr_auto]" onSubmit={submit} error="Not like that.">
      <Field label="Role">
        <select className="field">
          <RoleOptions roles={["viewer", "admin"]} />
        </select>
      </Field>
      <Field label="Type">
        <TypeSelect value="integer" onChange={() => undefined} />
      </Field>
      <TypeSelect label="Type of Sample" value="identifier" onChange={() => undefined} />
      <Field label="Task">
        <TaskSelect value="" onChange={() => undefined} />
      </Field>
      <BudgetField value="30" onChange={() => undefined} max={3600} />
      <button type="submit">Add</button>
    </RowForm>,
  );
  const form = screen.getByRole("form", { name: "Add a thing" });
  expect(form).toHaveClass("sm:grid-cols-[2fr_2fr_1fr_auto]");
  expect(screen.getByRole("alert")).toHaveTextContent("Not like that.");
  expect(screen.getByLabelText("Role")).toHaveTextContent("vieweradmin");
  expect(screen.getByLabelText("Type")).toHaveValue("integer");
  expect(screen.getByLabelText("Type of Sample")).toHaveValue("identifier");
  expect(screen.getByLabelText("Task")).toHaveTextContent(
    "Detect from the targetBinary classificationMulticlass classificationRegressionForecast (time series)Unsupervised (no target)",
  );
  const budget = screen.getByLabelText("Time budget (seconds)");
  expect(budget).toHaveValue(30);
  expect(budget).toHaveAttribute("max", "3600");
  await userEvent.setup().click(screen.getByRole("button", { name: "Add" }));
  expect(submit).toHaveBeenCalledTimes(1);
});

test("failures read in plain words", () => {
  const api = new ApiError(404, "not_found", "No model has the id x.", {});
  expect(apiMessage(api, "fallback")).toBe("No model has the id x.");
  expect(apiMessage(new TypeError("Failed to fetch"), "fallback")).toBe("fallback");
  expect(errorMessage(new TypeError("Failed to fetch"), "fallback")).toBe("Failed to fetch");
  expect(errorMessage("nothing", "fallback")).toBe("fallback");
});

test("useLoad keeps the latest answer, drops one that comes after its deps changed, and says why it failed", async () => {
  const answers: Record<number, (value: string) => void> = {};
  const { result, rerender } = renderHook(
    ({ n }) => useLoad(() => new Promise<string>((resolve) => (answers[n] = resolve)), [n], { fallback: "No." }),
    { initialProps: { n: 1 } },
  );
  expect(result.current.data).toBeNull();
  rerender({ n: 2 });
  await act(async () => answers[1]("late"));
  expect(result.current.data).toBeNull();
  await act(async () => answers[2]("two"));
  expect(result.current.data).toBe("two");

  const failing = renderHook(() => useLoad(() => Promise.reject(new Error("boom")), [], { fallback: "No." }));
  await waitFor(() => expect(failing.result.current.error).toBe("No."));
});

test("useLoad with keep shows the last answer while the next loads; reload and again load once more", async () => {
  vi.useFakeTimers({ shouldAdvanceTime: true });
  let calls = 0;
  const { result, rerender } = renderHook(
    ({ n }) =>
      useLoad(async () => `${n}:${++calls}`, [n], { fallback: "No.", keep: true, again: (v) => (v === "1:1" ? 1000 : null) }),
    { initialProps: { n: 1 } },
  );
  await waitFor(() => expect(result.current.data).toBe("1:1"));
  await act(async () => vi.advanceTimersByTime(1000));
  await waitFor(() => expect(result.current.data).toBe("1:2"));
  rerender({ n: 2 });
  expect(result.current.data).toBe("1:2"); // kept while page 2 loads
  await waitFor(() => expect(result.current.data).toBe("2:3"));
  await act(() => result.current.reload());
  expect(result.current.data).toBe("2:4");
});

test("useAction is busy while it runs and keeps its failure in words until it runs again", async () => {
  let finish: () => void = () => undefined;
  const task = vi
    .fn<(n: number) => Promise<void>>()
    .mockImplementationOnce(() => new Promise<void>((resolve) => (finish = resolve)))
    .mockRejectedValueOnce(new ApiError(409, "busy", "Not now.", {}))
    .mockResolvedValue(undefined);
  const { result } = renderHook(() => useAction(task, { fallback: "No." }));
  let running: Promise<void> = Promise.resolve();
  act(() => {
    running = result.current.run(1);
  });
  expect(result.current.busy).toBe(true);
  await act(async () => {
    finish();
    await running;
  });
  expect(result.current.busy).toBe(false);
  await act(() => result.current.run(2));
  expect(result.current.error).toBe("Not now.");
  await act(() => result.current.run(3));
  expect(result.current.error).toBeNull();
  expect(task).toHaveBeenLastCalledWith(3);
});
