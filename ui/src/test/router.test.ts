import { expect, test } from "vitest";
import { hashOf, parseHash } from "../router";

test("hashes name pages and ids, and unknown ones fall back to the datasets list", () => {
  expect(parseHash("#/datasets/0f3a")).toEqual({ page: "dataset", id: "0f3a" });
  expect(parseHash("#/models/m%201")).toEqual({ page: "model", id: "m 1" });
  expect(parseHash("#/keys")).toEqual({ page: "keys" });
  expect(parseHash("#/nope")).toEqual({ page: "datasets" });
  expect(parseHash("")).toEqual({ page: "datasets" });
  expect(parseHash("#/analysis")).toEqual({ page: "datasets" });
});

test("hashOf is the inverse of parseHash", () => {
  for (const hash of ["#/datasets", "#/datasets/a1", "#/upload", "#/analysis/j9", "#/models/m2", "#/users"]) {
    expect(hashOf(parseHash(hash))).toBe(hash);
  }
});
