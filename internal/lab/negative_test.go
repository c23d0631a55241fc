package lab

import "testing"

func negatives(t *testing.T, bin string, rep *report) {}
