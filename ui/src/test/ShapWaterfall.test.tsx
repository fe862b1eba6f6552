import { render, screen, within } from "@testing-library/react";
import { expect, test } from "vitest";
import { ShapWaterfall, formatValue, waterfallSteps } from "../components/ShapWaterfall";

const contributions = { a: 0.5, b: -1.25, c: 0.1, d: -0.05, e: 0.02 };

test("the steps take the largest contributions by size, sum the rest as other, and end at the output", () => {
  const { steps, end } = waterfallSteps(-0.8, contributions, 2);
  expect(steps.map((s) => s.label)).toEqual(["b", "a", "other (3 features)"]);
  expect(steps[2].value).toBeCloseTo(0.07);
  expect(steps[0].start).toBe(-0.8);
  expect(steps[0].end).toBeCloseTo(-2.05);
  expect(steps[1].start).toBeCloseTo(steps[0].end);
  expect(end).toBeCloseTo(-0.8 + 0.5 - 1.25 + 0.1 - 0.05 + 0.02);
  expect(waterfallSteps(0, contributions, 8).steps).toHaveLength(5); // no "other" when all fit
});

test("values read with their sign in text", () => {
  expect(formatValue(0.1234, true)).toBe("+0.123");
  expect(formatValue(-2.5)).toBe("−2.5");
  expect(formatValue(0)).toBe("0");
});

test("the chart is an image with a summary, arrows labelled +/− and a hidden table of the numbers", () => {
  render(<ShapWaterfall title="Row 1" base={-0.8} contributions={contributions} output="log-odds" prediction="Adelie" top={3} />);
  const image = screen.getByRole("img");
  const label = image.getAttribute("aria-label") ?? "";
  expect(label).toContain("Row 1");
  expect(label).toContain("base value −0.8");
  expect(label).toContain("to −1.48 log-odds");
  expect(label).toContain("prediction Adelie");
  expect(label).toContain("largest contribution is b −1.25");
  // wide layout: the signed values are text beside the arrows
  expect(image.textContent).toContain("−1.25");
  expect(image.textContent).toContain("+0.5");
  expect(image.textContent).toContain("other (2 features)");
  expect(image.querySelectorAll("polygon")).toHaveLength(4);
  const table = screen.getByRole("table", { name: "Row 1: SHAP contributions" });
  const rows = within(table).getAllByRole("row").slice(1);
  expect(rows.map((r) => r.textContent)).toEqual([
    "Base value−0.8",
    "b−1.25−2.05",
    "a+0.5−1.55",
    "c+0.1−1.45",
    "other (2 features)−0.03−1.48",
    "Output−1.48",
  ]);
});
