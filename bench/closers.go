package bench

import "errors"

// closers undoes what a rig set up, last step first.
type closers []func() error

// Close runs every closer, last first, and joins their errors.
func (c closers) Close() error {
	var errs []error
	for i := len(c) - 1; i >= 0; i-- {
		errs = append(errs, c[i]())
	}
	return errors.Join(errs...)
}
